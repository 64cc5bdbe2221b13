"""Training: settings in parts (config), the stages of a run (stages, fit), the run itself (train),
the Lightning module (module), scikit-learn fitting (fit_features), recipes, augmentation and the run folder."""
