"""Storage seams: the one place Redis errors are translated, and the in-process TTL cache.

The rule, for every module that talks to Redis:

* **State** (acknowledgements, subscriptions, budgets, pause flags, delivery markers, audit
  entries) goes through `guard.guarded` / `guard.required`: a Redis failure becomes
  `services.errors.StoreUnavailable` and the caller says so. Losing state silently is a bug.
* **Caches** (OpenCost answers, authorization decisions, Slack user-group memberships, the
  "already measured this hour" marker) go through `guard.degrade`: a Redis failure is logged
  under the name given and the stated default is used, because a miss only costs time.

No other module catches `redis` exceptions. `guard`, `durable` (WAIT after the state writes that
must survive a failover) and `keys` (renaming state keys from before the hash tags) import redis;
`ttl` (the in-process cache) does not, so services that handlers import can use it.
"""
