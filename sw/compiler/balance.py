"""Load balance: which rows of a layer each PE owns.

The engine gives the row at position ``k`` of a layer to PE ``k mod N`` as its local row
``k div N``. With rows in their own order (EIE's ``i mod N``), one PE may own more of a column's
weights than the others, and it sets the pace: the broadcast of a column waits for the busiest
PE, and the compiler pads the others' memories where they fall behind. :func:`balance_rows`
chooses a row order instead, so that every column's weights spread evenly over the PEs;
:func:`order_layers` applies the orders to a chain of layers, folding each layer's row order
into the next layer's column order, so the network computes the same function (the last
layer keeps its order: its rows are the outputs the user reads).
"""

from dataclasses import replace

import numpy as np

from tinyeie.sw.compress.sparse import pe_rows

__all__ = ["balance_rows", "spread", "order_layers", "identity_orders"]

MAX_ROUNDS = 50


def spread(index, order, pes):
    """How unevenly the PEs share the weights of each column: ``sum over columns and PEs of
    (weights of the column the PE owns)**2``, with rows in ``order``. Smallest when every
    column's weights are split evenly."""
    counts = _pe_counts((np.asarray(index) != 0)[np.asarray(order)], pes)
    return int((counts.astype(np.int64) ** 2).sum())


def _pe_counts(nonzero, pes):
    """(pes, columns): the non-zeros of each column that each PE owns, rows in engine order."""
    return np.stack([nonzero[p::pes].sum(axis=0) for p in range(pes)])


def _swap_search(a, owner, pes):
    """Swap rows between PEs while a swap lowers :func:`spread`; returns the new owners.

    ``a`` is the (rows, columns) 0/1 matrix of non-zeros. With ``L[p]`` PE ``p``'s column
    counts, swapping row ``x`` of PE ``p`` with row ``y`` of PE ``q`` (``d = a[x] - a[y]``)
    changes the spread by ``2 d.(L[q] - L[p]) + 2 |d|^2``: with ``M = a L^T`` and ``G = a a^T``
    kept up to date, each candidate costs O(1).
    """
    owner = owner.copy()
    counts = np.stack([a[owner == p].sum(axis=0) for p in range(pes)])
    gram = a @ a.T
    m = a @ counts.T                      # m[i, p] = a[i] . L[p]
    norms = np.diag(gram).copy()
    rows = np.arange(len(a))
    for _ in range(MAX_ROUNDS):
        swapped = False
        for x in range(len(a)):
            p = owner[x]
            q = owner
            delta = 2 * (m[x, q] - m[x, p] - m[rows, q] + m[rows, p]) \
                + 2 * (norms[x] + norms - 2 * gram[x])
            delta[owner == p] = 0
            y = int(np.argmin(delta))
            if delta[y] >= -1e-9:
                continue
            q = owner[y]
            move = a[y] - a[x]                # what PE p gains, and PE q loses
            counts[p] += move
            counts[q] -= move
            m[:, p] += gram[:, y] - gram[:, x]
            m[:, q] -= gram[:, y] - gram[:, x]
            owner[x], owner[y] = q, p
            swapped = True
        if not swapped:
            break
    return owner


def _greedy(a, pes, room):
    """Rows with the most weights first, each to the PE it unbalances least (that has room)."""
    counts = np.zeros((pes, a.shape[1]), dtype=np.int64)
    owner = np.empty(len(a), dtype=np.int64)
    left = np.array(room)
    for x in np.argsort(-a.sum(axis=1), kind="stable"):
        cost = (counts @ a[x]).astype(float)
        cost[left == 0] = np.inf
        p = int(np.argmin(cost))
        owner[x] = p
        counts[p] += a[x]
        left[p] -= 1
    return owner


def balance_rows(index, pes):
    """A row order for an (out, in) index matrix on ``pes`` PEs that spreads every column's
    weights evenly: ``order[k]`` is the row at engine position ``k``.

    Each PE keeps the number of rows ``i mod N`` gives it (so the engine drains the same local
    rows) and its rows in ascending order. Two starts are searched, EIE's ``i mod N`` and a
    greedy assignment, by swapping rows between PEs; the order with the lower :func:`spread`
    wins, and ``i mod N`` itself when nothing beats it.

    >>> index = np.array([[1, 1], [1, 1], [0, 0], [0, 0]])
    >>> balance_rows(index, 2).tolist()      # i mod N puts both full rows on PE 0
    [0, 1, 2, 3]
    """
    index = np.asarray(index)
    rows = len(index)
    identity = np.arange(rows)
    if pes == 1 or rows <= 1:
        return identity
    a = (index != 0).astype(np.int64)
    room = [pe_rows(rows, pes, p) for p in range(pes)]
    best, best_spread = identity, spread(index, identity, pes)
    for start in (identity % pes, _greedy(a, pes, room)):
        owner = _swap_search(a, start, pes)
        order = np.empty(rows, dtype=np.int64)
        for p in range(pes):
            order[p::pes] = np.flatnonzero(owner == p)
        score = spread(index, order, pes)
        if score < best_spread:
            best, best_spread = order, score
    return best


def identity_orders(layers):
    """Every layer's rows in their own order."""
    return [np.arange(layer.shape[0]) for layer in layers]


def order_layers(layers, orders):
    """The layers with layer ``l``'s rows (and bias) in ``orders[l]`` and its columns in
    ``orders[l - 1]``, so that each layer reads its inputs in the order the one before wrote
    them. The last layer's order must be the identity: its rows are the network's outputs."""
    if not np.array_equal(orders[-1], np.arange(layers[-1].shape[0])):
        raise ValueError("the last layer's rows are the outputs: their order cannot change")
    out, columns = [], np.arange(layers[0].shape[1])
    for layer, order in zip(layers, orders):
        out.append(replace(layer, index=layer.index[order][:, columns], bias=layer.bias[order]))
        columns = order
    return out
