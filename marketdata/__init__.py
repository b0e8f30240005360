"""The ticker plant: feed adapters, NBBO and subscriptions.

In so far: the recorded-data reader (`recorded`), the volume rules
(`volume`) and the NBBO book (`nbbo`). The plant's app, adapters and
subscriptions come next.
"""
