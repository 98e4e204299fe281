"""Pure analysis: the benchmark_model log parser, the plan, results tables, regression and
accuracy statistics, and the .tflite reader. No SSH, database, click or subprocess."""
