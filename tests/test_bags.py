import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from slamags import SlamagsError
from slamags.bags import simulate
from slamags.rates import witness_count


def make_index(n_neg: int, n_pos: int, n_bad: int = 5) -> pd.DataFrame:
    rows = [(f"LYT/LYT_{i:05d}", "LYT", "ok") for i in range(n_neg)]
    rows += [(f"BLA/BLA_{i:05d}", "BLA", "ok") for i in range(n_pos)]
    rows += [(f"BLA/BLA_9{i:04d}", "BLA", "unreadable") for i in range(n_bad)]
    rows += [(f"NGS/NGS_{i:05d}", "NGS", "ok") for i in range(7)]
    df = pd.DataFrame(rows, columns=["patch_id", "cell_class", "status"])
    df["path"] = df["patch_id"] + ".jpg"
    return df.sample(frac=1, random_state=1).reset_index(drop=True)


def check_invariants(bags, wr, bag_size, n_train, n_test):
    k = witness_count(wr, bag_size)
    assert bags["patch_id"].is_unique                                  # no patch in two bags
    per_bag = bags.groupby("bag_id").agg(label=("bag_label", "first"), split=("split", "first"),
                                         n=("patch_id", "size"), pos=("instance_label", "sum"),
                                         splits=("split", "nunique"), labels=("bag_label", "nunique"))
    assert (per_bag["splits"] == 1).all() and (per_bag["labels"] == 1).all()
    assert (per_bag["n"] == bag_size).all()
    assert (per_bag.loc[per_bag["label"] == 1, "pos"] == k).all()       # witness count exact
    assert (per_bag.loc[per_bag["label"] == 0, "pos"] == 0).all()       # negatives hold only normal cells
    counts = per_bag.groupby(["split", "label"]).size().to_dict()
    assert counts == {("test", 0): n_test, ("test", 1): n_test, ("train", 0): n_train, ("train", 1): n_train}
    assert set(bags.loc[bags["instance_label"] == 1, "cell_class"]) <= {"BLA"}
    assert set(bags.loc[bags["instance_label"] == 0, "cell_class"]) <= {"LYT"}
    assert not bags["patch_id"].str.startswith("BLA/BLA_9").any()      # bad files never used
    train = set(bags.loc[bags["split"] == "train", "patch_id"])
    test = set(bags.loc[bags["split"] == "test", "patch_id"])
    assert not train & test


@settings(max_examples=60, deadline=None)
@given(wr=st.sampled_from([1.0, 0.5, 0.1, 0.05, 0.01, 0.005]), bag_size=st.integers(2, 400),
       n_train=st.integers(2, 5), n_test=st.integers(1, 3), seed=st.integers(0, 2**31 - 1),
       spare=st.integers(0, 50))
def test_bag_invariants_hold_for_random_configurations(wr, bag_size, n_train, n_test, seed, spare):
    k = witness_count(wr, bag_size)
    n_bags = n_train + n_test
    need_neg, need_pos = n_bags * (2 * bag_size - k), n_bags * k
    if k < 1:
        with pytest.raises(SlamagsError, match="rounds to 0"):
            simulate(make_index(10, 10), wr, seed, bag_size, n_train, n_test, ["LYT"], ["BLA"])
        return
    index = make_index(need_neg + spare, need_pos + spare)
    bags = simulate(index, wr, seed, bag_size, n_train, n_test, ["LYT"], ["BLA"])
    check_invariants(bags, wr, bag_size, n_train, n_test)
    again = simulate(index.sample(frac=1, random_state=seed % 1000), wr, seed, bag_size, n_train, n_test,
                     ["LYT"], ["BLA"])
    pd.testing.assert_frame_equal(bags, again)                       # deterministic, whatever the row order


def test_other_seed_gives_other_bags():
    index = make_index(2000, 200)
    a = simulate(index, 0.1, 0, 50, 4, 2, ["LYT"], ["BLA"])
    b = simulate(index, 0.1, 1, 50, 4, 2, ["LYT"], ["BLA"])
    assert set(a["patch_id"]) != set(b["patch_id"])


@pytest.mark.parametrize("n_neg,n_pos,what,need", [(100, 200, "negative", 950), (2000, 10, "positive", 50)])
def test_too_small_dataset_says_what_is_needed(n_neg, n_pos, what, need):
    with pytest.raises(SlamagsError) as e:
        simulate(make_index(n_neg, n_pos), 0.1, 0, 100, 3, 2, ["LYT"], ["BLA"])
    msg = str(e.value)
    found = n_neg if what == "negative" else n_pos
    counts = f"'LYT' {found} usable of {found}" if what == "negative" else f"'BLA' {found} usable of {found + 5} (5 unreadable)"
    assert f"need {need} usable {what} cells, the index has {found} ({counts})" in msg
    assert "\n" not in msg


def test_witness_count_rounds_half_up():
    assert witness_count(0.005, 1000) == 5
    assert witness_count(0.05, 50) == 3      # 2.5 -> 3
    assert witness_count(0.005, 99) == 0


@settings(max_examples=25, deadline=None)
@given(wr=st.sampled_from([0.1, 0.05, 0.01, 0.005]), seed=st.integers(0, 2**31 - 1))
def test_reused_cells_stay_in_one_split_and_once_per_bag(wr, seed):
    """bags.reuse: 400-cell bags from 1,000 normal and 100 abnormal cells; every bag exact, no cell twice in a bag,
    no cell in both splits, and cells do recur across bags (the option's point)."""
    bags = simulate(make_index(1000, 100), wr, seed, 400, 6, 4, ["LYT"], ["BLA"], reuse=True)
    k = witness_count(wr, 400)
    per_bag = bags.groupby("bag_id").agg(label=("bag_label", "first"), n=("patch_id", "size"),
                                         unique=("patch_id", "nunique"), pos=("instance_label", "sum"))
    assert (per_bag["n"] == 400).all() and (per_bag["unique"] == 400).all()
    assert (per_bag.loc[per_bag["label"] == 1, "pos"] == k).all()
    assert (per_bag.loc[per_bag["label"] == 0, "pos"] == 0).all()
    train, test = (set(bags.loc[bags["split"] == s, "patch_id"]) for s in ("train", "test"))
    assert not train & test
    assert not bags["patch_id"].is_unique
    assert set(bags["cell_class"]) <= {"LYT", "BLA"}


def test_reuse_needs_pools_that_fill_one_bag_per_split():
    with pytest.raises(SlamagsError, match="need 1000 usable negative cells"):
        simulate(make_index(900, 200), 0.1, 0, 400, 6, 4, ["LYT"], ["BLA"], reuse=True)


def test_every_table_of_a_reusing_run_says_so():
    from helpers import REPO
    from slamags import config as cfgmod

    base = [REPO / "config" / "config.yaml", REPO / "configs" / "study.yaml", REPO / "configs" / "study-synthetic.yaml"]
    reusing = cfgmod.load(base + [REPO / "configs" / "paper-rates.yaml"], check_paths=False)
    assert "Cells reused across bags" in cfgmod.demonstration_note(reusing)
    assert "reused" not in cfgmod.demonstration_note(cfgmod.load(base, check_paths=False))


def test_a_rate_travels_through_its_path_tag_exactly():
    """The ``{wr}`` wildcard reads back as the configured float, to the last digit (no 6-digit rounding)."""
    from slamags.rates import rate_of_tag, wr_tag

    for wr in (0.1, 0.05, 0.01, 0.005, 0.1234567, 1e-05, 1.0):
        assert rate_of_tag(wr_tag(wr)) == wr
    assert wr_tag(0.05) == "0.05" and wr_tag(0.1234567) != wr_tag(0.123457)
