"""The ticker plant: feed adapters, NBBO and subscriptions.

In so far: the recorded-data reader (`recorded`) and the volume rules
(`volume`). The plant's app, adapters and subscriptions come next.
"""
