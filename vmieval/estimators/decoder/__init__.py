"""The decoder-side bound on I(t; x_hat): a post-hoc Q fitted to a frozen decoder.

`pairs` (generated (code, x_hat) pairs), `qnet` (the Q network, shared with the trainers), `fit`
(fitting Q with early stopping), `bound` (Barber-Agakov and Fano), `rows` (the rows both paths
build), `single` (one split), `crossfit` (the default: F folds), `variational` (InfoNCE, NWJ,
interpolated), `intervals` (honest intervals). Derivations: docs/estimators.md.
"""
