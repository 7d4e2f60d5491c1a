"""Convert the original Cranfield collection (SMART layout) into a gzipped BEIR folder.

    python scripts/convert_cranfield.py ../shared/data/ir/cranfield/raw sparsecli/data/bundled/cranfield

The traps, and what this script does about them:
- Query ids: the `.I` numbers of cran.qry run 001, 002, 004, ... 365, but cranqrel numbers
  queries by position. Queries get ids "1".."225" by position; matching by `.I` gives garbage.
- Grades: cranqrel codes are 1 (complete answer) .. 4 (minimum interest), lower is better, and
  -1 once per query marks the query's source document. We map to graded relevance 5 - code
  (1 -> 4 ... 4 -> 1) and -1 -> 5, the same mapping as the widely used TCD conversion
  (QRelsCorrectedforTRECeval): the source document is the paper the question was written
  from, so it answers it best.
- Empty documents: 471 and 995 have no title and no abstract. They are kept, so document ids
  stay 1..1400; `data=cranfield` sets `on_empty: skip`.
- CRLF line endings are normalised, and runs of whitespace collapsed.

The output is deterministic (gzip with a zero timestamp), so reconverting changes no bytes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from pathlib import Path

FIELD = re.compile(r"^\.([ITABW])(?:\s+(\d+))?\s*$")
GRADES = {1: 4, 2: 3, 3: 2, 4: 1, -1: 5}


def parse_smart(path: Path) -> list[dict[str, str]]:
    """Records of a SMART file: {'I': id, 'T': title, 'W': text, ...}."""
    records: list[dict[str, str]] = []
    field = None
    for line in path.read_text(encoding="ascii").replace("\r\n", "\n").split("\n"):
        match = FIELD.match(line)
        if match and match.group(1) == "I":
            records.append({"I": match.group(2)})
            field = None
        elif match:
            field = match.group(1)
            records[-1].setdefault(field, "")
        elif field is not None:
            records[-1][field] += " " + line
    for record in records:
        for key in record:
            if key != "I":
                record[key] = " ".join(record[key].split())
    return records


def write_jsonl_gz(path: Path, rows: list[dict]) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
        for row in rows:
            out.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))


def convert(raw: Path, out: Path) -> dict[str, int]:
    docs = parse_smart(raw / "cran.all.1400")
    queries = parse_smart(raw / "cran.qry")
    if len(docs) != 1400 or len(queries) != 225:
        raise SystemExit(f"expected 1400 docs and 225 queries, found {len(docs)} and {len(queries)}")
    qrels = []
    for line in (raw / "cranqrel").read_text(encoding="ascii").split("\n"):
        parts = line.split()
        if parts:
            query, doc, code = int(parts[0]), int(parts[1]), int(parts[2])
            if not 1 <= query <= len(queries):
                raise SystemExit(f"cranqrel: query {query} is out of range 1..{len(queries)}")
            qrels.append((str(query), str(doc), GRADES[code]))
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    write_jsonl_gz(
        out / "corpus.jsonl.gz",
        [{"_id": d["I"].lstrip("0"), "title": d.get("T", ""), "text": d.get("W", "")} for d in docs],
    )
    write_jsonl_gz(
        out / "queries.jsonl.gz", [{"_id": str(i), "text": q.get("W", "")} for i, q in enumerate(queries, start=1)]
    )
    with open(out / "qrels" / "test.tsv", "w", encoding="utf-8", newline="\n") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        handle.writelines(f"{q}\t{d}\t{g}\n" for q, d, g in qrels)
    return {"docs": len(docs), "queries": len(queries), "qrels": len(qrels)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, help="folder with cran.all.1400, cran.qry and cranqrel")
    parser.add_argument("out", type=Path, help="output BEIR folder")
    args = parser.parse_args()
    print(convert(args.raw, args.out))


if __name__ == "__main__":
    main()
