"""What failed: litellm's exception names (``names``) and the kind of failure a provider reported (``kinds``)."""
