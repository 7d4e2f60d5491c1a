from sparsecli.text.config import AnalyzerConfig, StemmerName, Tokenizer
from sparsecli.text.analyzer import Analyzer
from sparsecli.text.stopwords import LUCENE_ENGLISH, load_stopwords
from sparsecli.text.tokenize import _segments, standard


def test_standard_tokenizer_follows_uax29_rules():
    text = "H1N1 e.g. 3.14 10,000 don't foo_bar COVID-19 p<0.05 U.S.A. β-cell 中文 5'-UTR a:b 1:2"
    assert standard(text) == [
        "H1N1", "e.g", "3.14", "10,000", "don't", "foo_bar", "COVID", "19", "p", "0.05",
        "U.S.A", "β", "cell", "中", "文", "5", "UTR", "a:b", "1", "2",
    ]  # fmt: skip


def test_fast_paths_agree_with_the_full_rules():
    texts = [
        "plain ascii text, with 3.5 numbers; and U.S. abbreviations",
        "naïve café résumé – α-helix “quoted” x²",
        "soft\u00adhyphen zero\u200bwidth mixed ascii and ünïcode",
    ]
    for text in texts:
        assert standard(text) == _segments(text)  # the ASCII rules agree with UAX#29 segmentation
    # And on random strings over the characters where the fast paths could go wrong.
    import random

    chars = list("aZ9 .,':;_-()/%+\t") + list("βµé²½٣–′·‿°ŉǅⅷ＿．，：\u200b\u200e\u0301\xa0\u3000©🍕ア中ภ")
    rng = random.Random(0)
    for _ in range(20000):
        text = "".join(rng.choice(chars) for _ in range(rng.randint(1, 12)))
        assert standard(text) == _segments(text), repr(text)


def test_symbols_emoji_scripts_and_underscores_as_lucene_tokenizes_them():
    text = "a_b ___ _x © ® ™ ↔ 👩\u200d👩\u200d👧 🍕abc アイウabc \u200bworker \u200eaugment ひら ภาษาไทย test"
    assert standard(text) == [
        "a_b", "_x", "©", "®", "™", "↔", "👩\u200d👩\u200d👧", "🍕", "abc", "アイウ", "abc", "worker", "augment",
        "ひ", "ら", "ภาษาไทย", "test",
    ]  # fmt: skip


def test_lucene_porter_stemmer():
    """Porter's reference code, as Lucene ports it; Snowball's porter differs on these."""
    stem = Analyzer(AnalyzerConfig(stopwords="none"))
    words = "technology technological possibly vs us ms s generalizations oscillators abilities"
    assert stem(words) == ["technolog", "technolog", "possibl", "vs", "us", "ms", "s", "gener", "oscil", "abil"]
    snowball = Analyzer(AnalyzerConfig(stopwords="none", stemmer=StemmerName.snowball_porter))
    assert snowball("technology possibly vs s") == ["technologi", "possibli", "v"]  # "s" -> "" is no term


def test_default_analyzer_matches_anserini_example():
    # Pyserini's documented output for Anserini's default English analyzer.
    assert Analyzer(AnalyzerConfig())("City buses are running on time.") == ["citi", "buse", "run", "time"]


def test_possessive_is_stripped_before_lowercasing_and_stemming():
    analyzer = Analyzer(AnalyzerConfig())
    assert analyzer("The DOG'S bones and John’s cats") == ["dog", "bone", "john", "cat"]


def test_analyzer_options():
    raw = Analyzer(AnalyzerConfig(stopwords="none", stemmer=StemmerName.none, lowercase=False, possessive=False))
    assert raw("The dog's Bones") == ["The", "dog's", "Bones"]
    snowball = Analyzer(AnalyzerConfig(stemmer=StemmerName.snowball_english))
    assert snowball("generalizations") == ["general"]
    assert Analyzer(AnalyzerConfig())("generalizations") == ["gener"]
    ws = Analyzer(AnalyzerConfig(tokenizer=Tokenizer.whitespace, stemmer=StemmerName.none))
    assert ws("state-of-the-art x") == ["state-of-the-art", "x"]


def test_long_tokens_are_split_like_lucene():
    analyzer = Analyzer(AnalyzerConfig(max_token_length=4, stemmer=StemmerName.none))
    assert analyzer("abcdefghij xy") == ["abcd", "efgh", "ij", "xy"]
    bag, length = analyzer.bag("abcdefghij xy abcdefghij")
    assert bag == {"abcd": 2, "efgh": 2, "ij": 2, "xy": 1} and length == 7


def test_bag_counts_terms_after_filtering():
    bag, length = Analyzer(AnalyzerConfig()).bag("the cat and the cats")
    assert bag == {"cat": 2} and length == 2


def test_stopword_lists(tmp_path):
    assert len(LUCENE_ENGLISH) == 33 and "the" in LUCENE_ENGLISH
    path = tmp_path / "stop.txt"
    path.write_text("# mine\nfoo\n\nbar  # trailing comment\n")
    assert load_stopwords(str(path)) == {"foo", "bar"}
    assert load_stopwords("none") == frozenset()
