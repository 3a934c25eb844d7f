"""Reference versions of the notebooks' exercises, for the cells after an exercise (a notebook runs
on whether or not the student has answered) and for its hidden tests."""


def early_stop(history: list[dict], patience: int) -> tuple[int, int]:
    """(stopping epoch, chosen epoch) of early stopping on a record's history (notebook 04,
    Exercise 4.2): stop once the validation accuracy has not strictly improved for `patience`
    epochs in a row (or after the last epoch), and keep the first epoch with the best validation
    accuracy seen so far. The test set chooses nothing."""
    best_acc, best_epoch, waited = None, None, 0
    for entry in history:
        if best_acc is None or entry["val_acc"] > best_acc:
            best_acc, best_epoch, waited = entry["val_acc"], entry["epoch"], 0
        else:
            waited += 1
            if waited == patience:
                return entry["epoch"], best_epoch
    return history[-1]["epoch"], best_epoch
