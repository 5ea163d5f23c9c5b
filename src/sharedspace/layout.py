"""The run folder's layout: every name in it spelt once, here, for the trainer that writes it and
for ``runs``, the report, the CLI and the studies that read it.

    runs/<name>/
      .sharedspace-run     MARKER: sharedspace made this folder (and holds its lock)
      config.yaml          CONFIG: the resolved config, every default filled in
      run.json             RECORD: how the run came to be, session by session
      metrics.jsonl        METRICS: train, validation and test records
      tensorboard/         TENSORBOARD
      checkpoints/         CHECKPOINTS: the newest resume checkpoints (train.checkpoint)
      model.safetensors    FINAL: the final weights
      best.safetensors     BEST: the weights of the best validation value (train.keep_best)
      results.json         RESULTS_JSON: numbers to reload
      results.md, .csv     RESULTS (a table's stem): numbers to read
"""

MARKER = ".sharedspace-run"
CONFIG = "config.yaml"
RECORD = "run.json"
METRICS = "metrics.jsonl"
TENSORBOARD = "tensorboard"
CHECKPOINTS = "checkpoints"
FINAL = "model.safetensors"
BEST = "best.safetensors"
RESULTS_JSON = "results.json"
RESULTS = "results"
RESULTS_MD = RESULTS + ".md"
