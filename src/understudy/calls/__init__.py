"""One call and its fallbacks: ``LLM``, the walk and its drivers, the strategy, retries, streams, stats, litellm."""
