"""Accuracy of the memory prediction, as measured by bench/memory_accuracy.py (generated file)."""

MEASURED_ACCURACY = {
 "date": "2026-11-26 06:11 UTC",
 "device": "cpu",
 "machine": "x86_64, 2 cores, torch 2.13.0+cpu",
 "summary": {
  "configs": 16,
  "configs_ge_40mb": 15,
  "median_abs_error_pct": 0.28119911800025965,
  "max_abs_error_pct": 3.769586625458639,
  "median_abs_error_pct_all": 0.424476740566793,
  "max_abs_error_pct_all": 3.769586625458639
 },
 "rows": [
  {
   "config": "dit+pos L5160 B4 fp32",
   "batch": 4,
   "precision": "fp32",
   "kernel": "flash (CPU)",
   "phase": "backward",
   "measured_mb": 93.560832,
   "predicted_mb": 93.660792,
   "error_pct": 0.10683958004990807,
   "predict_s": 2.4955791329998647
  },
  {
   "config": "dit+pos L1290 B32 fp32",
   "batch": 32,
   "precision": "fp32",
   "kernel": "flash (CPU)",
   "phase": "backward",
   "measured_mb": 185.106432,
   "predicted_mb": 185.419896,
   "error_pct": 0.16934257584306958,
   "predict_s": 1.0026751570003398
  },
  {
   "config": "dit+pos B64 fp32",
   "batch": 64,
   "precision": "fp32",
   "kernel": "flash (CPU)",
   "phase": "backward",
   "measured_mb": 148.15232,
   "predicted_mb": 148.324344,
   "error_pct": 0.1161129302598839,
   "predict_s": 0.8938389630002348
  },
  {
   "config": "dit+pos B64 bf16",
   "batch": 64,
   "precision": "bf16",
   "kernel": "flash (CPU)",
   "phase": "forward",
   "measured_mb": 92.864512,
   "predicted_mb": 91.974852,
   "error_pct": -0.9580193561992766,
   "predict_s": 0.8257362999997895
  },
  {
   "config": "dit nopos B32 fp32",
   "batch": 32,
   "precision": "fp32",
   "kernel": "flash (CPU)",
   "phase": "backward",
   "measured_mb": 74.05568,
   "predicted_mb": 74.211572,
   "error_pct": 0.21050647296736724,
   "predict_s": 1.0327566269997988
  },
  {
   "config": "dit nopos B64 bf16",
   "batch": 64,
   "precision": "bf16",
   "kernel": "flash (CPU)",
   "phase": "forward",
   "measured_mb": 90.66496,
   "predicted_mb": 89.630144,
   "error_pct": -1.141362660944206,
   "predict_s": 0.6576210820003325
  },
  {
   "config": "dit dropout (not attn) B32 fp32",
   "batch": 32,
   "precision": "fp32",
   "kernel": "flash (CPU)",
   "phase": "backward",
   "measured_mb": 78.094336,
   "predicted_mb": 78.53772,
   "error_pct": 0.5677543631333264,
   "predict_s": 0.6981830790000458
  },
  {
   "config": "dit H64 D4 B16 fp32",
   "batch": 16,
   "precision": "fp32",
   "kernel": "flash (CPU)",
   "phase": "backward",
   "measured_mb": 189.300736,
   "predicted_mb": 189.833048,
   "error_pct": 0.28119911800025965,
   "predict_s": 1.3339217699999608
  },
  {
   "config": "dit FiLM B32 fp32 SGD",
   "batch": 32,
   "precision": "fp32",
   "kernel": "flash (CPU)",
   "phase": "backward",
   "measured_mb": 74.8544,
   "predicted_mb": 75.281132,
   "error_pct": 0.5700827205882353,
   "predict_s": 0.5111379069999202
  },
  {
   "config": "dit attn-dropout (math) B1 fp32",
   "batch": 1,
   "precision": "fp32",
   "kernel": "math",
   "phase": "backward",
   "measured_mb": 537.882624,
   "predicted_mb": 538.090308,
   "error_pct": 0.038611397865122334,
   "predict_s": 0.7455943479999405
  },
  {
   "config": "cnn H64 D4 B16 fp32",
   "batch": 16,
   "precision": "fp32",
   "kernel": "",
   "phase": "backward",
   "measured_mb": 190.144512,
   "predicted_mb": 183.848576,
   "error_pct": -3.3111321140838395,
   "predict_s": 0.653891867999846
  },
  {
   "config": "cnn H64 D4 B16 bf16",
   "batch": 16,
   "precision": "bf16",
   "kernel": "",
   "phase": "forward",
   "measured_mb": 98.238464,
   "predicted_mb": 94.53528,
   "error_pct": -3.769586625458639,
   "predict_s": 0.5504154930004006
  },
  {
   "config": "c-dit B32 fp32",
   "batch": 32,
   "precision": "fp32",
   "kernel": "flash (CPU)",
   "phase": "backward",
   "measured_mb": 668.13952,
   "predicted_mb": 669.014076,
   "error_pct": 0.13089421802200835,
   "predict_s": 0.9796322759998475
  },
  {
   "config": "c-dit B32 bf16",
   "batch": 32,
   "precision": "bf16",
   "kernel": "flash (CPU)",
   "phase": "backward",
   "measured_mb": 339.390464,
   "predicted_mb": 338.583484,
   "error_pct": -0.23777332765601805,
   "predict_s": 0.787154055999963
  },
  {
   "config": "hybrid H32 D2 B8 fp32",
   "batch": 8,
   "precision": "fp32",
   "kernel": "flash (CPU)",
   "phase": "backward",
   "measured_mb": 27.52512,
   "predicted_mb": 28.001524,
   "error_pct": 1.7307971772693453,
   "predict_s": 1.1551275209999403
  },
  {
   "config": "mlp H32 D2 B8 fp32",
   "batch": 8,
   "precision": "fp32",
   "kernel": "",
   "phase": "backward",
   "measured_mb": 48.152576,
   "predicted_mb": 48.585296,
   "error_pct": 0.8986435118237496,
   "predict_s": 0.4283934869999939
  }
 ]
}
