"""The alert e-mails: digests of a run's changes (`digest`), the outbox they wait in (`outbox`),
sending it (`send`) through a transport (`transports`), and the mail settings (`settings`)."""
