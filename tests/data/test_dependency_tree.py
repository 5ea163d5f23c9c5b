"""The relative-head linearisation of dependency trees, its inverse and its scores."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharedspace.data.dependency_tree import (
    UNKNOWN,
    Attachment,
    DependencyTree,
    attachment,
    delinearise,
    linearise,
)

# "Açıklanmayan soruların … imkansız ." from the Turkish Web Treebank (web.conllu), 6 rows
TREE = DependencyTree((2, 3, 4, 6, 0, 5), ("ig", "ig", "ig", "nsubj", "root", "p"))
TEXT = "1 ig 1 ig 1 ig 2 nsubj 0 root -1 p"


def test_linearise_writes_each_tokens_offset_then_label():
    assert linearise(TREE) == TEXT
    assert linearise(DependencyTree((0,), ("root",))) == "0 root"
    assert linearise(DependencyTree((), ())) == ""


@st.composite
def trees(draw) -> DependencyTree:
    """Any tree: tokens attached one by one, in a random order, to the root or an earlier one."""
    n = draw(st.integers(1, 40))
    order = draw(st.permutations(range(1, n + 1)))
    heads = [0] * (n + 1)
    for k, token in enumerate(order[1:], start=1):
        heads[token] = order[draw(st.integers(0, k - 1))]
    labels = draw(st.lists(st.sampled_from(["nsubj", "ig", "p", "root", "x:y"]), min_size=n))
    return DependencyTree(tuple(heads[1:]), tuple(labels[:n]))


@given(trees())
def test_delinearise_inverts_linearise(tree):
    text = linearise(tree)
    assert len(text.split()) == 2 * len(tree.heads)
    assert delinearise(text, len(tree.heads)) == tree
    assert linearise(delinearise(text, len(tree.heads))) == text


@pytest.mark.parametrize(
    "predicted, heads, labels",
    [
        ("", (UNKNOWN,) * 3, ("",) * 3),  # nothing written
        ("1 nn", (2, UNKNOWN, UNKNOWN), ("nn", "", "")),  # stopped early
        ("1 nn 1", (2, 3, UNKNOWN), ("nn", "", "")),  # an offset without its label
        ("1 nn -1 amod 0 root 1 extra", (2, 1, 0), ("nn", "amod", "root")),  # too long
        ("01 nn +1 nn 0 root", (UNKNOWN, UNKNOWN, 0), ("nn", "nn", "root")),  # not canonical
        ("nn 1 -3 nn 1 root", (UNKNOWN, UNKNOWN, UNKNOWN), ("1", "nn", "root")),  # shifted
        ("-1 nn 2 nn x root", (UNKNOWN, UNKNOWN, UNKNOWN), ("nn", "nn", "root")),  # off the end
        ("  1  nn\n1\tnn 0 root ", (2, 3, 0), ("nn", "nn", "root")),  # any whitespace
    ],
)
def test_a_malformed_prediction_decodes_with_unknown_heads(predicted, heads, labels):
    assert delinearise(predicted, 3) == DependencyTree(heads, labels)


def test_attachment_counts_heads_and_labels():
    assert attachment(TREE, TREE) == Attachment(6, 6, 6, True)
    predicted = delinearise("1 ig 1 ig 1 nn 2 nsubj 1 root", 6)  # label 3 and head 5 wrong
    assert attachment(TREE, predicted) == Attachment(6, 4, 3, False)
    with pytest.raises(ValueError, match="6 gold tokens, 2 predicted"):
        attachment(TREE, delinearise(TEXT, 2))


def test_a_tree_needs_one_label_per_head():
    with pytest.raises(ValueError, match="2 heads but 1 labels"):
        DependencyTree((0, 1), ("root",))
