"""Fitting and evaluating routers, what ``tierflow route fit`` and ``route eval`` run: fitting and kind
selection (:mod:`.train`), calibration to a target (:mod:`.calibrate`), the metrics of a curve
(:mod:`.metrics`), the baselines (:mod:`.baselines`, :mod:`.agreement`), the evaluation report
(:mod:`.evaluate`, :mod:`.holdout`, :mod:`.report`). Live routing never imports this package."""
