"""The ticker plant: feed adapters, NBBO and subscriptions (built in a later issue)."""
