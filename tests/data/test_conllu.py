"""The CoNLL-U reader: comments, multiword tokens, empty nodes, inflectional groups, and a
DataError naming file:line for every malformed line."""

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sharedspace.data.conllu import Sentence, read_conllu
from sharedspace.data.dependency_tree import DependencyTree
from sharedspace.errors import DataError

# the Turkish Web Treebank's format (web.conllu): inflectional groups linked by `ig`
TURKISH = """\
# sent_id = tr-blog:00000508:S043
# text = Bakara suresi açıklar mısınız?
1\tBakara\tbakara\tNOUN\tNNP\tCase=Bare|Proper=True\t2\tnn\t_\t_
2\tsuresi\tsure\tNOUN\tNN\tCase=Bare|Proper=False\t4\tdobj\t_\t_
3\taçık\taçık\tNOUN\tNN\tCase=Bare|Proper=False\t4\tig\t_\tSpaceAfter=No
4\tlar\t_\tVERB\tVB\tDerivation=Make|Proper=False\t0\troot\t_\t_
5\tmısınız\tmı\tVERB\tNOMP\tCopula=PresCop|Proper=False\t4\tprt\t_\tSpaceAfter=No
6\t?\t?\tPUNCT\t.\tProper=False\t4\tp\t_\t_"""

# Universal Dependencies' own example of a multiword token and an empty node
SPANISH = """\
# sent_id = es-1
# text = Vámonos al mar.
# a comment that is not sent_id or text
1-2\tVámonos\t_\t_\t_\t_\t_\t_\t_\t_
1\tVamos\tir\tVERB\t_\t_\t0\troot\t_\t_
2\tnos\tnosotros\tPRON\t_\t_\t1\tobj\t_\t_
2.1\tvamos\tir\tVERB\t_\t_\t_\t_\t0:root\tCopyOf=1
3-4\tal\t_\t_\t_\t_\t_\t_\t_\t_
3\ta\ta\tADP\t_\t_\t5\tcase\t_\t_
4\tel\tel\tDET\t_\t_\t5\tdet\t_\t_
5\tmar\tmar\tNOUN\t_\t_\t1\tobl\t_\tSpaceAfter=No
6\t.\t.\tPUNCT\t_\t_\t1\tpunct\t_\t_
"""


def read(text: str, source: str = "t.conllu") -> list[Sentence]:
    return list(read_conllu(io.BytesIO(text.encode()), source))


def test_reads_inflectional_groups_as_rows():
    (sentence,) = read(TURKISH)
    assert sentence.sent_id == "tr-blog:00000508:S043"
    assert sentence.forms == ("Bakara", "suresi", "açık", "lar", "mısınız", "?")
    assert sentence.space_after == (True, True, False, True, False, True)
    assert sentence.tree == DependencyTree(
        (2, 4, 4, 0, 4, 4), ("nn", "dobj", "ig", "root", "prt", "p")
    )


def test_skips_multiword_ranges_and_empty_nodes_and_reads_every_sentence():
    text = f"\n\n{SPANISH}\n\n\n{TURKISH}\r\n\r\n{SPANISH.replace('es-1', 'es-2')}"
    spanish, turkish, again = read(text.replace("\n", "\r\n"))
    assert spanish.forms == ("Vamos", "nos", "a", "el", "mar", ".")
    assert spanish.tree == DependencyTree(
        (0, 1, 5, 5, 1, 1), ("root", "obj", "case", "det", "obl", "punct")
    )
    assert spanish.space_after == (True, True, True, True, False, True)
    assert turkish == read(TURKISH)[0]
    assert (again.sent_id, again.forms) == ("es-2", spanish.forms)


def test_a_sentence_without_sent_id_has_an_empty_one():
    (sentence,) = read("1\tyes\t_\t_\t_\t_\t0\troot\t_\t_\n")
    assert (sentence.sent_id, sentence.forms) == ("", ("yes",))


def _turkish_with(line: int, row: str) -> str:
    lines = TURKISH.split("\n")
    lines[line - 1] = row
    return "\n".join(lines)


@pytest.mark.parametrize(
    "text, line, what",
    [
        (_turkish_with(4, "2\tsuresi\tsure\tNOUN\tNN\t_\t4\tdobj\t_"), 4, "found 9"),
        (_turkish_with(4, "2 suresi sure NOUN NN _ 4 dobj _ _"), 4, "found 1"),
        (_turkish_with(5, "4\taçık\taçık\tNOUN\tNN\t_\t4\tig\t_\t_"), 5, "word ID '4', expected 3"),
        (_turkish_with(5, "3\taçık\taçık\tNOUN\tNN\t_\t3\tig\t_\t_"), 5, "HEAD '3' of word 3"),
        (_turkish_with(5, "3\taçık\taçık\tNOUN\tNN\t_\t_\tig\t_\t_"), 5, "HEAD '_' of word 3"),
        (_turkish_with(5, "3\taçık\taçık\tNOUN\tNN\t_\t-1\tig\t_\t_"), 5, "HEAD '-1'"),
        (
            _turkish_with(5, "3\taçık\taçık\tNOUN\tNN\t_\t7\tig\t_\t_"),
            5,
            "past the sentence's last",
        ),
        (_turkish_with(5, "3\taçık\taçık\tNOUN\tNN\t_\t4\t_\t_\t_"), 5, "DEPREL '_'"),
        (_turkish_with(5, "3\taçık\taçık\tNOUN\tNN\t_\t4\t\t_\t_"), 5, "DEPREL ''"),
        (_turkish_with(5, "3\taçık\taçık\tNOUN\tNN\t_\t4\ti g\t_\t_"), 5, "DEPREL 'i g'"),
        (TURKISH + "\n\n# sent_id = lonely\n# text = nothing", 10, "'lonely' has no word lines"),
    ],
)
def test_a_malformed_line_is_a_data_error_naming_file_and_line(text, line, what):
    with pytest.raises(DataError, match=rf"^web\.conllu:{line}: .*{what}"):
        read(text, "web.conllu")


def test_bytes_that_are_not_utf8_are_named_by_line():
    data = TURKISH.encode().replace(b"\tsuresi\tsure", b"\tsur\xffsi\tsure")
    with pytest.raises(DataError, match=r"^w:4: not UTF-8"):
        list(read_conllu(io.BytesIO(data), "w"))


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=400) | st.text(alphabet="1-.\t\n#_ab0", max_size=200).map(str.encode))
def test_any_bytes_give_sentences_or_a_data_error(data):
    try:
        for sentence in read_conllu(io.BytesIO(data), "f"):
            n = len(sentence.forms)
            assert all(0 <= head <= n for head in sentence.tree.heads) and n
    except DataError as e:
        assert str(e).startswith("f:") and "\n" not in str(e)
