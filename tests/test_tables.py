"""The original's table rebuilt from run records."""

import pandas as pd

from cifar_helpers.tables import results_table


def test_table_rows_aggregate_complete_runs_and_name_their_seeds():
    runs = pd.DataFrame({
        "model": ["own-network"] * 3, "lr": [1e-2] * 3, "epochs": [20] * 3, "subset": [None] * 3,
        "status": ["complete", "complete", "interrupted"], "seed": [3, 4, 0],
        "train_eval_acc": [70.0, 66.0, 10.0], "test_acc": [60.0, 58.0, 10.0],
        "collapsed": [False, False, True], "wall_s": [600.0, 660.0, 60.0], "device": ["cpu"] * 3})
    (row,) = results_table(runs).to_dict("records")
    assert row["Network"] == "Own Network" and row["Original README (%)"] == "67.88"
    assert row["lr"] == "1e-2"
    assert row["Seeds"] == "3, 4"  # the interrupted seed-0 run is left out
    assert row["Ours, original's protocol: train set (%)"] == "68.00 ± 2.83"
    assert row["Ours, test set (%)"] == "59.00 ± 1.41"
    # Only last-epoch figures: no column picks an epoch by its test accuracy.
    assert not [c for c in row if "best" in c.lower()]
    assert row["Collapsed"] == 0 and row["Wall time (min)"] == "10.5"
