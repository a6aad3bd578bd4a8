"""Recommendation rules on constructed series: formulas, floors, rounding, ids, waste finders."""

from __future__ import annotations

import json
import math
import shlex
from datetime import UTC, datetime

import msgspec
import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from services.opencost.models import Allocation, Asset, AssetResponse
from services.recommendations import maths, patches
from services.recommendations.maths import (
    DEFAULTS,
    ceil_mebibytes,
    ceil_millicores,
    confidence_factor,
    confidence_label,
    material_change,
    percentile,
    realized_monthly,
    rec_id,
    rightsize,
    savings_band,
)
from services.recommendations.models import (
    MIB,
    ContainerSamples,
    HpaTarget,
    Recommendation,
    RecSettings,
    RecSnapshot,
    Skipped,
    WorkloadKey,
    WorkloadUsage,
)
from services.recommendations.store import snapshot_of as store_snapshot_of
from services.recommendations.waste import idle_capacity, idle_workload, unclaimed_volumes
from tests.conftest import SHARED

GIB = 1024 * MIB
KEY = WorkloadKey("prod", "payments", "deployment", "api", "app")
# The worked example covers its whole window (4 of 4 days): full confidence, nothing widened.
SETTINGS = RecSettings(history_days=4)


def samples(**changes: object) -> ContainerSamples:
    """The worked example of docs/recommendations.md, with `changes` applied."""
    base = ContainerSamples(
        key=KEY,
        days=4,
        cpu_peaks=(0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.3),
        cpu_from_max=8,
        memory_peak=400 * MIB,
        memory_from_max=True,
        current_cpu=1.0,
        current_memory=2 * GIB,
        cpu_price=0.03,  # per core-hour
        ram_price=0.004 / GIB,  # per byte-hour
        avg_pods=2.0,
    )
    return msgspec.structs.replace(base, **changes)


def recommend(**changes: object) -> Recommendation:
    outcome = rightsize(samples(**changes), SETTINGS)
    assert isinstance(outcome, Recommendation)
    return outcome


# --- percentile -------------------------------------------------------------------------------
def test_percentile_interpolates_linearly_between_ranks() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 95) == 5.0
    assert percentile([0.0, 10.0], 95) == pytest.approx(9.5)


@given(
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=60),
    st.floats(0, 100),
)
def test_percentile_matches_numpy_default_method(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(
        float(np.percentile(values, q)), rel=1e-9, abs=1e-9
    )


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 95)


# --- right-sizing -----------------------------------------------------------------------------
def test_worked_example_savings_are_exact_to_the_cent() -> None:
    """CPU 1 → 265m and memory 2Gi → 460Mi for 2 pods: $32.193 + $9.0565625 = $41.25/month."""
    rec = recommend()
    assert rec.recommended_cpu == 0.265
    assert rec.recommended_memory == 460 * MIB
    assert rec.evidence.cpu_monthly_delta == pytest.approx(32.193, abs=1e-9)
    assert rec.evidence.memory_monthly_delta == pytest.approx(9.0565625, abs=1e-9)
    assert round(rec.monthly_savings, 2) == 41.25
    assert not rec.risk


def test_evidence_records_how_the_numbers_were_reached() -> None:
    evidence = recommend().evidence
    assert (evidence.history_days, evidence.data_points, evidence.percentile) == (4, 8, 95.0)
    assert evidence.cpu_percentile_cores == pytest.approx(0.265)
    assert evidence.cpu_peak_cores == 0.3
    assert evidence.memory_peak_bytes == 400 * MIB
    assert (evidence.cpu_source, evidence.memory_source, evidence.buffer) == ("max", "max", 0.15)
    assert (evidence.cpu_floor_applied, evidence.memory_floor_applied, evidence.hpa) == (
        False,
        False,
        False,
    )
    assert (evidence.cpu_unit_price, evidence.avg_pods) == (0.03, 2.0)


@given(
    peak=st.floats(0, 64 * GIB, allow_nan=False),
    buffer=st.floats(0, 1, allow_nan=False),
)
def test_memory_is_never_below_peak_times_buffer_and_is_whole_mebibytes(
    peak: float, buffer: float
) -> None:
    settings = RecSettings(memory_buffer=buffer, history_days=4, noise_band=0.0)
    rec = rightsize(samples(memory_peak=peak), settings)
    assert isinstance(rec, Recommendation)
    assert rec.recommended_memory is not None
    assert rec.recommended_memory >= peak * (1 + buffer)
    assert rec.recommended_memory >= settings.memory_floor_bytes
    assert rec.recommended_memory % MIB == 0
    assert rec.recommended_memory - max(peak * (1 + buffer), settings.memory_floor_bytes) < MIB


def test_memory_uses_peak_times_1_15_by_default() -> None:
    rec = recommend(memory_peak=1000 * MIB)
    assert rec.recommended_memory == 1150 * MIB


def test_floors_apply_and_are_flagged() -> None:
    rec = recommend(cpu_peaks=(0.001,) * 8, memory_peak=10 * MIB)
    assert rec.recommended_cpu == 0.010
    assert rec.recommended_memory == 100 * MIB
    assert rec.evidence.cpu_floor_applied
    assert rec.evidence.memory_floor_applied


def test_values_round_up_to_whole_millicores_and_mebibytes() -> None:
    rec = recommend(cpu_peaks=(0.2501,) * 8, memory_peak=100 * MIB + 1)
    assert rec.recommended_cpu == 0.251
    assert rec.recommended_memory == math.ceil((100 * MIB + 1) * 1.15 / MIB) * MIB
    assert ceil_millicores(0.25) == 0.25  # already whole: float noise must not add 1m
    assert ceil_millicores(0.1 + 0.2) == 0.3
    assert ceil_mebibytes(MIB + 1) == 2 * MIB


def test_fewer_than_three_days_is_skipped_with_the_reason() -> None:
    outcome = rightsize(samples(days=2), SETTINGS)
    assert isinstance(outcome, Skipped)
    assert outcome.key == KEY
    assert outcome.history_days == 2
    assert "not enough data" in outcome.reason
    assert "3 needed" in outcome.reason


def test_hpa_divides_the_percentile_by_the_target_utilization() -> None:
    hpa = HpaTarget("payments", "Deployment", "api", target_cpu_utilization=80)
    rec = rightsize(samples(), SETTINGS, hpa)
    assert isinstance(rec, Recommendation)
    assert rec.recommended_cpu == ceil_millicores(0.265 / 0.8)  # 332m
    assert rec.recommended_cpu == 0.332
    assert rec.evidence.hpa
    assert rec.evidence.hpa_target_utilization == 80
    assert "HPA-aware" in rec.title


def test_hpa_with_zero_target_is_ignored_rather_than_dividing_by_zero() -> None:
    hpa = HpaTarget("payments", "deployment", "api", target_cpu_utilization=0)
    rec = rightsize(samples(), SETTINGS, hpa)
    assert isinstance(rec, Recommendation)
    assert rec.recommended_cpu == 0.265
    assert not rec.evidence.hpa


def test_under_requested_workload_is_a_risk_with_zero_savings() -> None:
    rec = recommend(current_cpu=0.1, current_memory=256 * MIB, memory_peak=500 * MIB)
    assert rec.risk
    assert rec.monthly_savings == 0.0
    assert "CPU request 100m" in rec.risk_note
    assert "memory request 256Mi" in rec.risk_note
    assert rec.evidence.cpu_monthly_delta is not None
    assert rec.evidence.cpu_monthly_delta < 0


def test_missing_requests_are_named_as_the_risk() -> None:
    rec = recommend(current_cpu=0.0, current_memory=0.0)
    assert rec.risk
    assert "no CPU request set" in rec.risk_note
    assert "no memory request set" in rec.risk_note


def test_a_mixed_change_is_a_risk_and_claims_no_savings() -> None:
    """CPU falls, memory must rise to 2.3Gi: the risk is what matters, and a risk never claims
    savings (the deltas stay in the evidence)."""
    rec = recommend(memory_peak=2 * GIB)
    assert rec.risk
    assert rec.category == "risk"
    assert rec.monthly_savings == 0.0
    delta_cpu, delta_memory = rec.evidence.cpu_monthly_delta, rec.evidence.memory_monthly_delta
    assert delta_cpu is not None
    assert delta_memory is not None
    assert delta_memory < 0 < delta_cpu


def test_zero_unit_price_gives_zero_savings_and_says_why() -> None:
    rec = recommend(cpu_price=0.0, ram_price=0.0)
    assert rec.monthly_savings == 0.0
    assert any("no CPU unit price" in note for note in rec.evidence.notes)


def test_mixed_peak_sources_are_reported() -> None:
    assert recommend(cpu_from_max=3).evidence.cpu_source == "mixed"
    assert recommend(cpu_from_max=0).evidence.cpu_source == "average"


# --- ids, versions, bands ----------------------------------------------------------------------
def test_id_is_stable_and_distinguishes_container_and_rule() -> None:
    assert recommend().id == recommend(current_cpu=4.0).id == rec_id(KEY, "rightsize")
    assert len(rec_id(KEY, "rightsize")) == 12
    other = WorkloadKey("prod", "payments", "deployment", "api", "sidecar")
    assert rec_id(other, "rightsize") != rec_id(KEY, "rightsize")
    assert rec_id(KEY.workload(), "idle_workload") != rec_id(KEY.workload(), "rightsize")


def test_version_changes_with_recommended_values_or_savings_band_only() -> None:
    base = recommend()
    assert recommend().version == base.version
    assert recommend(cpu_peaks=(0.5,) * 8).version != base.version
    assert recommend(current_cpu=1.01).version == base.version  # $41.25 → $41.69: same band
    assert recommend(current_cpu=4.0).version != base.version  # ≥ $200: another band


def test_savings_bands_have_the_documented_edges() -> None:
    assert [savings_band(x) for x in (0, 9.99, 10, 49.9, 50, 199, 200, 999, 1000, 5e4)] == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
    ]


# --- the change that ships with it -------------------------------------------------------------
def test_kubectl_patch_sets_requests_and_memory_limit_by_container_name() -> None:
    rec = recommend()
    argv = shlex.split(rec.kubectl_patch)
    assert argv[:7] == [
        "kubectl",
        "-n",
        "payments",
        "patch",
        "deployment",
        "api",
        "--type=strategic",
    ]
    body = json.loads(argv[argv.index("-p") + 1])
    container = body["spec"]["template"]["spec"]["containers"][0]
    assert container == {
        "name": "app",
        "resources": {
            "requests": {"cpu": "265m", "memory": "460Mi"},
            "limits": {"memory": "460Mi"},
        },
    }
    assert yaml.safe_load(rec.yaml) == body


def test_kubectl_patch_quotes_hostile_names_so_the_shell_sees_one_argument() -> None:
    key = WorkloadKey("prod", "ns;rm -rf", "deployment", "a'b", "c")
    command = maths.kubectl_patch(key, {"spec": {"replicas": 0}})
    argv = shlex.split(command)
    assert argv[2] == "ns;rm -rf"
    assert argv[5] == "a'b"
    assert json.loads(argv[-1]) == {"spec": {"replicas": 0}}


def test_with_several_clusters_both_kubectl_calls_name_the_cluster_quoted() -> None:
    key = WorkloadKey("prod; rm -rf /", "", "persistentvolume", "pv-1")
    command = patches.release_volume_command(key, context=True)
    first, _, second = command.partition(" && ")
    for part in (first, second):
        assert shlex.split(part)[:3] == ["kubectl", "--context", "prod; rm -rf /"], part
    assert patches.release_volume_command(key).startswith("kubectl patch persistentvolume")


# --- reopen and realization --------------------------------------------------------------------
def snapshot_of(rec: Recommendation) -> RecSnapshot:
    return store_snapshot_of(rec, datetime(2025, 3, 1, tzinfo=UTC), DEFAULTS.savings_bands)


def test_material_change_needs_more_than_twenty_percent_or_a_new_band() -> None:
    before = snapshot_of(recommend())
    assert material_change(before, recommend(cpu_peaks=(0.3,) * 8)) == ""  # 265m → 300m: +13 %
    moved = material_change(before, recommend(cpu_peaks=(0.35,) * 8))  # → 350m: +32 %
    assert moved.startswith("recommended CPU moved +32%")
    banded = material_change(before, recommend(current_cpu=4.0))  # $41 → $173: another band
    assert banded.startswith("savings band changed")


def test_realized_savings_use_the_prices_and_pods_at_acknowledgement() -> None:
    snapshot = snapshot_of(recommend())
    assert realized_monthly(snapshot, 0.265, 460 * MIB) == pytest.approx(41.2495625)
    assert realized_monthly(snapshot, 0.5, 2 * GIB) == pytest.approx(0.5 * 0.03 * 730 * 2)
    assert realized_monthly(snapshot, 1.0, 2 * GIB) == 0.0  # nothing dropped
    assert realized_monthly(snapshot, 1.0, 3 * GIB) == 0.0  # went up: never negative


# --- waste finders -----------------------------------------------------------------------------
def usage(**changes: object) -> WorkloadUsage:
    base = WorkloadUsage(
        key=KEY.workload(),
        days=7,
        pod_hours=7 * 24.0,
        avg_cpu_cores=0.0004,
        avg_network_bytes_per_second=200.0,
        cost=16.8,
    )
    return msgspec.structs.replace(base, **changes)


def test_idle_workload_saves_its_whole_monthly_cost() -> None:
    rec = idle_workload(usage())
    assert rec is not None
    assert rec.rule == "idle_workload"
    assert rec.monthly_savings == pytest.approx(16.8 / (7 * 24) * 730)  # $73/month
    assert rec.container == ""
    assert json.loads(shlex.split(rec.kubectl_patch)[-1]) == {"spec": {"replicas": 0}}


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"avg_cpu_cores": 0.001}, "1m CPU is not idle"),
        ({"avg_network_bytes_per_second": 1024.0}, "1 KB/s of traffic is not idle"),
        ({"days": 6}, "not seen on every day of the window"),
        ({"avg_network_bytes_per_second": None}, "network never measured"),
    ],
)
def test_busy_new_or_unmeasured_workloads_are_not_idle(
    changes: dict[str, object], why: str
) -> None:
    assert idle_workload(usage(**changes)) is None, why


def test_idle_daemonset_is_paused_with_a_node_selector_instead_of_replicas() -> None:
    key = WorkloadKey("prod", "ops", "daemonset", "agent")
    rec = idle_workload(usage(key=key))
    assert rec is not None
    body = yaml.safe_load(rec.yaml)
    assert body["spec"]["template"]["spec"]["nodeSelector"] == {"costbot/paused": "true"}


def disk(**fields: object) -> Asset:
    shaped = {
        "type": "Disk",
        "properties": {"category": "Storage", "cluster": "prod", "name": "pvc-1"},
        "minutes": 7 * 24 * 60,
        "totalCost": 7.0,
        "bytes": 100 * GIB,
        "storageClass": "gp3",
        "volumeName": "pvc-1",
        "claimName": "",
        "local": 0,
    }
    return msgspec.convert({**shaped, **fields}, Asset)


def test_only_unclaimed_non_local_disks_are_recommended() -> None:
    assets = [
        disk(),
        disk(claimName="data-db-0", volumeName="pvc-2"),
        disk(storageClass="__local__", volumeName="root"),
        disk(local=1, volumeName="local-ssd"),
        msgspec.convert({"type": "Node", "properties": {"name": "n1"}}, Asset),
    ]
    recs = unclaimed_volumes(assets)
    assert [rec.controller for rec in recs] == ["pvc-1"]
    rec = recs[0]
    assert rec.cluster_wide
    assert rec.namespace == ""
    assert rec.monthly_savings == pytest.approx(7.0 / 168 * 730)
    assert "persistentVolumeReclaimPolicy" in rec.kubectl_patch
    assert rec.kubectl_patch.endswith("kubectl delete persistentvolume pvc-1")


def allocation(name: str, cost: float, cluster: str = "prod") -> Allocation:
    return msgspec.convert(
        {"name": name, "properties": {"cluster": cluster}, "totalCost": cost}, Allocation
    )


def node(hours: float, cost: float) -> Asset:
    shaped = {
        "type": "Node",
        "properties": {"cluster": "prod"},
        "minutes": hours * 60,
        "totalCost": cost,
    }
    return msgspec.convert(shaped, Asset)


def test_idle_capacity_reports_the_idle_share_and_removable_nodes() -> None:
    """10 nodes, 50 % idle: keep ceil(10 × 0.5 ÷ 0.8) = 7, so 3 could go."""
    rows = [allocation("prod/__idle__", 500.0), allocation("prod/n/ns/pod/app", 500.0)]
    nodes = [node(168.0, 100.0) for _ in range(10)]
    [rec] = idle_capacity(rows, nodes, window_hours=168.0)
    assert rec.rule == "idle_capacity"
    assert rec.cluster_wide
    assert rec.evidence.idle_share == 0.5
    assert rec.evidence.node_count == 10
    assert rec.evidence.removable_nodes == 3
    assert rec.monthly_savings == pytest.approx(3 * 100.0 / 168 * 730)
    assert rec.evidence.monthly_cost == pytest.approx(500.0 / 168 * 730)


def test_idle_capacity_without_node_data_reports_the_idle_cost() -> None:
    rows = [allocation("prod/__idle__", 10.0), allocation("prod/x", 90.0)]
    [rec] = idle_capacity(rows, [], window_hours=24.0)
    assert rec.evidence.removable_nodes is None
    assert rec.monthly_savings == pytest.approx(10.0 / 24 * 730)


def test_settings_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="cpu_percentile"):
        RecSettings(cpu_percentile=0)
    with pytest.raises(ValueError, match="ascending"):
        RecSettings(savings_bands=(50.0, 10.0))


def test_genuine_opencost_assets_yield_no_false_unclaimed_volumes() -> None:
    """The real Oracle OKE /assets answer: all six disks are claimed, so nothing to delete."""
    fixture = SHARED / "fixtures" / "opencost" / "assets_window7d_oracle-oke_opencost-ui.json"
    if not fixture.exists():
        pytest.skip("shared OpenCost fixtures are not present")
    response = msgspec.json.decode(fixture.read_bytes(), type=AssetResponse)
    assets = list((response.data or {}).values())
    assert sum(asset.type == "Disk" for asset in assets) == 6
    assert unclaimed_volumes(assets) == []
    unclaimed = [msgspec.structs.replace(asset, claim_name="") for asset in assets]
    assert len(unclaimed_volumes(unclaimed)) == 6


# --- what a right-sizing means: savings, risk, minimum; noise; profiles; confidence ------------
def test_a_raise_that_only_the_floor_causes_is_below_the_minimum_not_an_oom_risk() -> None:
    """node-exporter: peaks at 32Mi against a 64Mi request; the 100Mi floor is what raises it."""
    rec = recommend(
        cpu_peaks=(0.05,) * 8, current_cpu=0.05, memory_peak=32 * MIB, current_memory=64 * MIB
    )
    assert rec.category == "minimum"
    assert not rec.risk
    assert rec.risk_note == ""
    assert "OOM" not in rec.minimum_note
    assert "below the minimum we recommend (100Mi)" in rec.minimum_note
    assert "peaks at 32Mi" in rec.minimum_note
    assert rec.recommended_memory == 100 * MIB
    assert rec.monthly_savings == 0.0
    assert rec.title.startswith("Raise to the minimum")


def test_a_raise_driven_by_usage_is_still_a_risk() -> None:
    rec = recommend(current_memory=256 * MIB, memory_peak=500 * MIB)
    assert rec.category == "risk"
    assert "avoid OOM kills" in rec.risk_note
    assert rec.minimum_note == ""


def test_a_six_percent_cpu_raise_is_noise_not_starvation() -> None:
    """p95 265m against a 250m request (+6 %) keeps the request: no risk, nothing claimed."""
    rec = recommend(current_cpu=0.25, current_memory=460 * MIB)
    assert rec.recommended_cpu == 0.25
    assert rec.recommended_memory == 460 * MIB
    assert not rec.risk
    assert rec.category == "savings"
    assert rec.monthly_savings == 0.0


def test_the_noise_band_also_keeps_small_cuts_and_is_a_setting() -> None:
    near = recommend(current_cpu=0.28)  # 265m is 5 % below 280m: kept
    assert near.recommended_cpu == 0.28
    strict = rightsize(samples(current_cpu=0.28), RecSettings(history_days=4, noise_band=0.0))
    assert isinstance(strict, Recommendation)
    assert strict.recommended_cpu == 0.265


@pytest.mark.parametrize(
    ("profile", "target"),
    [("development", 0.80), ("production", 0.65), ("high-availability", 0.50)],
)
def test_profiles_size_to_the_kubecost_target_utilization(profile: str, target: float) -> None:
    settings = RecSettings(history_days=4, profile=profile)  # type: ignore[arg-type]
    rec = rightsize(samples(), settings)
    assert isinstance(rec, Recommendation)
    assert rec.recommended_cpu == ceil_millicores(0.265 / target)
    assert rec.recommended_memory == ceil_mebibytes(400 * MIB / target)
    assert (rec.evidence.profile, rec.evidence.target_utilization) == (profile, target)
    assert rec.evidence.buffer is None  # the profile's target replaces the 15 % buffer


def test_the_default_rule_names_no_profile_and_an_unknown_profile_is_refused() -> None:
    assert recommend().evidence.profile == ""
    with pytest.raises(ValueError, match="profile"):
        RecSettings(profile="yolo")  # type: ignore[arg-type]


def test_confidence_widens_short_histories_by_the_documented_formula() -> None:
    """((1 + 1/4) / (1 + 1/14)) ** 1 = 1.1667: 265m → 310m, 460Mi → 537Mi; low confidence."""
    settings = RecSettings()  # 14-day window, 4 days of data
    factor = (1 + 1 / 4) / (1 + 1 / 14)
    rec = rightsize(samples(), settings)
    assert isinstance(rec, Recommendation)
    assert rec.evidence.confidence_factor == pytest.approx(factor)
    assert rec.evidence.confidence == "low"
    assert rec.recommended_cpu == ceil_millicores(0.265 * factor)
    assert rec.recommended_memory == ceil_mebibytes(460 * MIB * factor)
    assert confidence_factor(14, settings) == 1.0
    assert confidence_label(7, settings) == "medium"
    assert confidence_factor(4, RecSettings(confidence_exponent=0.0)) == 1.0


def test_the_confidence_margin_never_asks_for_a_raise_on_its_own() -> None:
    """270m covers the 265m need; widened it would be 310m, yet no risk is raised for it."""
    rec = rightsize(samples(current_cpu=0.27, current_memory=470 * MIB), RecSettings())
    assert isinstance(rec, Recommendation)
    assert rec.recommended_cpu == 0.27
    assert rec.recommended_memory == 470 * MIB
    assert not rec.risk
