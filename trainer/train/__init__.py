"""Training: everything a training run uses and nothing that prediction or evaluation needs.

The loop (:mod:`.engine`: ``fit()``, a generator of :mod:`.events`), its training step
(:mod:`.step`, with :mod:`.augment`, :mod:`.bn`, :mod:`.regularization`), its data
(:mod:`.run_data`), its starting weights (:mod:`.pretrained`), the per-epoch sums and history
(:mod:`.epoch_sums`, :mod:`.history`, :mod:`.plots`), its end (:mod:`.finalize`: the test
split, the model file), its run folder (:mod:`.run_folder`, locked by :mod:`.run_lock`;
:mod:`.run_evaluation` evaluates a finished run again), ``torchrun`` (:mod:`.distributed`),
the speed probe (:mod:`.probe`) and the named recipes (:mod:`.recipes`).

Why a package: prediction and evaluation never load training code, and what they share with
it (the model, its file, preprocessing, metrics, calibration, the OOD check, the one evaluation
pipeline :mod:`trainer.evaluation`) stays in :mod:`trainer`. The modules here build on those;
none of those imports anything here (only the faces do: :mod:`trainer.api`, :mod:`trainer.cli`),
so there is no import cycle between this package and its siblings (an import-linter contract).
Nothing is imported here, so ``import trainer.train.recipes`` stays as light as the module.
"""
