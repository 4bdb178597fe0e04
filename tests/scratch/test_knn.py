"""kNN from scratch: every distance form equals torch.cdist; voting, prediction and CV by hand."""

import pytest
import torch

from scratchdl.errors import UserError
from scratchdl.models.scratch.knn import KNearestNeighbor
from scratchdl.scratch import distances, knn

P = {"l1": 1, "l2": 2}
# Tolerances: float64 forms agree with torch.cdist to 1e-10; float32 ones to rtol 1e-5 /
# atol 1e-4 (the L2 expansion loses a few bits to cancellation; distances here are ~1-30).
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-10), torch.float32: dict(rtol=1e-5, atol=1e-4)}


def _points(n, m, d, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randn(m, d, generator=g, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("metric", ["l1", "l2"])
@pytest.mark.parametrize("form", distances.FORMS)
def test_every_form_equals_cdist(form, metric, dtype):
    x, train = _points(11, 17, 6, dtype)  # non-square on purpose
    ours = distances.pairwise_distances(x, train, metric, form)
    ref = torch.cdist(x.double(), train.double(), p=P[metric]).to(dtype)
    assert ours.shape == (11, 17) and ours.dtype == dtype
    torch.testing.assert_close(ours, ref, **TOL[dtype])


@pytest.mark.parametrize("metric", ["l1", "l2"])
@pytest.mark.parametrize("block_rows", [1, 7, 30, 100])  # 7 does not divide 30
def test_blocked_no_loop_equals_cdist(metric, block_rows):
    x, train = _points(30, 23, 9, torch.float64, seed=1)
    ref = torch.cdist(x, train, p=P[metric])
    fn = distances.l2_distances_no_loop if metric == "l2" else distances.l1_distances_no_loop
    torch.testing.assert_close(fn(x, train, block_rows=block_rows), ref, **TOL[torch.float64])
    starts = [s for s, _ in distances.iter_distance_blocks(x, train, metric, block_rows=block_rows)]
    assert starts == list(range(0, 30, block_rows))


@pytest.mark.parametrize("metric", ["l1", "l2"])
def test_memory_budget_sets_block_size_and_keeps_result(metric):
    x, train = _points(50, 40, 8, torch.float32, seed=2)
    budget = 7 * 40 * 4 + 3  # room for 7 rows of (rows, M) float32, not 8
    blocks = list(distances.iter_distance_blocks(x, train, metric, max_bytes=budget))
    assert [b.shape[0] for _, b in blocks] == [7] * 7 + [1]
    got = torch.cat([b for _, b in blocks])
    torch.testing.assert_close(got, torch.cdist(x, train, p=P[metric]), **TOL[torch.float32])


def test_l2_no_loop_never_negative_or_nan_for_duplicates():
    x = torch.randn(5, 20) * 1e3
    d = distances.l2_distances_no_loop(x, x.clone())
    assert torch.isfinite(d).all() and (d >= 0).all()
    # Self-distances are cancellation noise only: sqrt(eps * ||a||^2) ~ 1e-4 of the scale here.
    assert d.diagonal().max() < 1e-3 * d.max()


def _brute_force_predict(x, train, labels, k, p):
    """Reference: sort all distances of each query, vote with plain Python."""
    out = []
    for row in torch.cdist(x, train, p=p):
        order = torch.sort(row, stable=True).indices[:k].tolist()
        votes = [int(labels[i]) for i in order]
        best = max(votes.count(c) for c in set(votes))
        out.append(next(c for c in votes if votes.count(c) == best))  # nearest among tied
    return torch.tensor(out)


@pytest.mark.parametrize("metric", ["l1", "l2"])
@pytest.mark.parametrize("k", [1, 2, 5, 8])
def test_knn_predict_equals_brute_force(metric, k):
    x, train = _points(40, 60, 5, torch.float64, seed=3)
    labels = torch.randint(0, 4, (60,), generator=torch.Generator().manual_seed(4))
    ref = _brute_force_predict(x, train, labels, k, P[metric])
    got = knn.knn_predict(x, train, labels, k, metric, block_rows=9)
    assert torch.equal(got, ref)
    clf = KNearestNeighbor(max_bytes=1000).train(train, labels)
    assert torch.equal(clf.predict(x, k=k, metric=metric), ref)
    d = clf.compute_distances(x, metric, "one_loop")
    torch.testing.assert_close(d, torch.cdist(x, train, p=P[metric]))


def test_nearest_indices_are_the_sorted_k_nearest():
    x, train = _points(12, 30, 4, torch.float64, seed=5)
    idx = knn.nearest_indices(x, train, 6, "l2", block_rows=5)
    ref = torch.sort(torch.cdist(x, train), dim=1).indices[:, :6]
    assert torch.equal(idx, ref)


def test_vote_tie_goes_to_nearest_neighbours_class():
    # Rows are neighbour labels, nearest first.
    labels = torch.tensor(
        [
            [3, 1, 1, 3],  # 3 and 1 tie with 2 votes: nearest is class 3
            [1, 3, 3, 1],  # same tie, nearest is class 1 (not the smallest label rule)
            [2, 0, 0, 5],  # clear majority 0 despite nearest being 2
            [4, 2, 0, 1],  # all tied: nearest wins
            [7, 7, 7, 7],
        ]
    )
    assert knn.majority_vote(labels).tolist() == [3, 1, 0, 4, 7]
    assert knn.majority_vote(labels[:, :1]).tolist() == labels[:, 0].tolist()
    with pytest.raises(UserError, match=r"labels must be in \[0, 5\), got range \[0, 7\]"):
        knn.majority_vote(labels, num_classes=5)


def _cluster_data():
    """Two far-apart clusters on a line; within each: 4 majority points and 1 noise point.

    Positions 0, 1, 2.1 (noise), 3, 4 (cluster 1 is shifted by 100 and has swapped labels).
    Rows are ordered so that contiguous 5-fold splits put position f of both clusters in fold f.
    Hand computation of the validation accuracy per fold (same for both clusters):
      k=1: pos 0 -> 1 ok; 1 -> 0 ok; noise -> wrong; 3 -> 2.1 noise wrong; 4 -> 3 ok: [1,1,0,0,1]
      k=2: 0 -> {1, 2.1} tie, nearest 1 ok; 1 -> {0, 2.1} tie, nearest 0 ok; noise wrong;
           3 -> {2.1, 4} tie, nearest 2.1 wrong; 4 -> {3, 2.1} tie, nearest 3 ok: [1,1,0,0,1]
      k=3: 0 ok; 1 ok; noise wrong; 3 -> {2.1, 4, 1} majority ok; 4 ok:        [1,1,0,1,1]
    """
    positions = [0.0, 1.0, 2.1, 3.0, 4.0]
    rows, labels = [], []
    for f, p in enumerate(positions):
        noise = f == 2
        rows += [[p, 0.0], [p + 100.0, 0.0]]
        labels += [1 if noise else 0, 0 if noise else 1]
    return torch.tensor(rows, dtype=torch.float64), torch.tensor(labels)


def test_cross_validation_matches_hand_computation():
    x, y = _cluster_data()
    best, acc = knn.cross_validate_k(x, y, ks=[1, 2, 3], folds=5, seed=None)
    assert acc == {1: [1, 1, 0, 0, 1], 2: [1, 1, 0, 0, 1], 3: [1, 1, 0, 1, 1]}
    assert best == 3
    best, _ = knn.cross_validate_k(x, y, ks=[2, 1], folds=5, seed=None)
    assert best == 1  # equal mean accuracy: the smallest k wins
    best, acc = knn.cross_validate_k(x, y, ks=[1, 3], folds=5, seed=None, metric="l1")
    assert best == 3 and acc[3] == [1, 1, 0, 1, 1]


def test_cross_validation_with_shuffle_equals_independent_folds():
    g = torch.Generator().manual_seed(6)
    x = torch.randn(47, 3, generator=g, dtype=torch.float64)
    y = (x[:, 0] + 0.5 * torch.randn(47, generator=g, dtype=torch.float64) > 0).long()
    best, acc = knn.cross_validate_k(x, y, ks=[1, 3, 7], folds=4, seed=11)
    order = torch.randperm(47, generator=torch.Generator().manual_seed(11))
    parts = torch.tensor_split(order, 4)
    means = {}
    for k in (1, 3, 7):
        per_fold = []
        for f, val in enumerate(parts):
            tr = torch.cat([p for j, p in enumerate(parts) if j != f])
            pred = _brute_force_predict(x[val], x[tr], y[tr], k, 2)
            per_fold.append((pred == y[val]).double().mean().item())
        assert acc[k] == pytest.approx(per_fold, abs=1e-12)
        means[k] = sum(per_fold) / 4
    assert best == max(means, key=lambda k: (means[k], -k))


def test_bad_input_is_a_user_error():
    x, train = _points(4, 6, 3, torch.float32)
    labels = torch.arange(6) % 2
    with pytest.raises(UserError, match=r"\(N, D\).*got shapes \(4, 3, 1\)"):
        distances.l2_distances_no_loop(x[..., None], train)
    with pytest.raises(UserError, match="same feature size D, got 2 and 3"):
        distances.pairwise_distances(x[:, :2], train)
    with pytest.raises(UserError, match="dtype and device"):
        distances.pairwise_distances(x.double(), train)
    with pytest.raises(UserError, match="metric must be one of"):
        distances.pairwise_distances(x, train, metric="cosine")
    with pytest.raises(UserError, match="form must be one of"):
        distances.pairwise_distances(x, train, form="three_loops")
    with pytest.raises(UserError, match="k=7 is larger than the training set \\(6 points\\)"):
        knn.knn_predict(x, train, labels, k=7)
    with pytest.raises(UserError, match=r"labels of shape \(6,\).*got \(5,\)"):
        knn.knn_predict(x, train, labels[:5], k=1)
    with pytest.raises(UserError, match="before train"):
        KNearestNeighbor().predict(x)
    with pytest.raises(UserError, match="folds must be in"):
        knn.cross_validate_k(train, labels, ks=[1], folds=1)
    with pytest.raises(UserError, match="larger than the training set"):
        knn.cross_validate_k(train, labels, ks=[5], folds=3)
