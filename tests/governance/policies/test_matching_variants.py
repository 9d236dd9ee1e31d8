"""Issue 19: the bypass classes a larger corpus found, one example each (the generated corpus
in ``test_corpora`` covers every pack term in every disguise), and exception phrases."""

import pytest

from governance.policies.matching import CompiledPolicy, Rule

ISSUE_19 = CompiledPolicy.from_rules(
    [
        Rule("n", "sexual", "block", "No.", terms=("nude", "anal", "kill")),
        Rule("p", "public_figures", "review", "People.", terms=("taylor swift",)),
        Rule("d", "sexual", "block", "Nein.", terms=("nackt",), language="de"),
    ]
)


@pytest.mark.parametrize(
    ("prompt", "shown"),
    [
        ("TaylorSwift on a poster", "TaylorSwift"),
        ("taylorswift on a poster", "taylorswift"),
        ("t.a.y.l.o.r.s.w.i.f.t on a poster", "t.a.y.l.o.r.s.w.i.f.t"),
        ("t_a_y_l_o_r_s_w_i_f_t on a poster", "t_a_y_l_o_r_s_w_i_f_t"),
        ("a \u03b7\u03c5d\u03b5 figure", "\u03b7\u03c5d\u03b5"),  # Greek eta, upsilon, epsilon
        ("a nudes figure", "nudes"),
        ("two nackten Figuren", "nackten"),
        ("a nuuuuude figure", "nuuuuude"),
        ("killllling time", "killllling"),
        ("a \u202eedun\u202c figure", "edun"),  # shown as "nude"
    ],
)
def test_issue_19_classes_are_caught_with_the_original_span(prompt, shown):
    matches = ISSUE_19.match(prompt)
    assert [prompt[m.start : m.end] for m in matches] == [shown]
    assert [m.matched_text for m in matches] == [shown]


@pytest.mark.parametrize("prompt", ["the annals of Rome", "a nudge", "skilled", "Analysis"])
def test_doubled_letters_and_longer_words_are_not_inflections(prompt):
    assert ISSUE_19.match(prompt) == []


def test_an_exception_phrase_unblocks_only_the_term_inside_it():
    policy = CompiledPolicy.from_rules(
        [Rule("n", "sexual", "block", "No.", ("nude",), exceptions=("nude lipstick",))]
    )
    assert policy.match("nude lipsticks on a counter") == []
    prompt = "a nude model with nude lipstick"
    assert [(m.start, m.end) for m in policy.match(prompt)] == [(2, 6)]
