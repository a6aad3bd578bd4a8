"""Savings recommendations: rules (maths, waste), the engine, lifecycle store, realized savings.

`engine.OptimizationService` generates; `store.RecommendationStore` remembers what humans
decided; `realized.RealizedSavings` checks later whether acknowledged changes were made.
Import from the submodules: handlers may use `models` without pulling in Redis.
"""
