"""The export comparison in DuckDB: a DynamoDB export against a PostgreSQL snapshot, out of core.

DuckDB reads the export's gzipped DynamoDB JSON lines and the snapshot's CSV files itself
(projected to the key, status, partition and sort key, and the compared fields), joins them on
(partition key, record key) and keeps only the rows that differ; memory is bounded by
`memory_limit`, and what does not fit spills to `temp_dir`. The findings are those `check counts`
names on the same data: missing on either side, status divergence, an unreadable item as
invalid_data, and, with fields, field_mismatch from values computed the same way on both sides
(the md5 of the canonical text, or a time in epoch microseconds).

Items whose key or status does not take the fast path (an N that is not a plain integer, a
wrong DynamoDB type) are decoded again in Python by the mapping, the decoder the online checks
use, so a reason or a key reads the same on both paths.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from monitor.core.mapping import KeyKind, TableMapping
from monitor.model import Finding
from monitor.verify.export_findings import (
    Comparison,
    DiffRow,
    JoinCounts,
    decode_slow,
    field_finding,
    key_finding,
)
from monitor.verify.export_keys import literal, partition_groups, quote, render_template_sql
from monitor.verify.export_lines import export_lines
from monitor.verify.export_memory import resident_bytes, share_memory


@dataclass(frozen=True, slots=True)
class ComparedField:
    """A field compared from both sides: by md5 of its text, or as a time within tolerance."""

    column: str
    attribute: str
    #: "md5" or "epoch_us" (as `monitor.stores.pg_snapshot.ExportedField`).
    value: str
    tolerance_us: int = 0
    #: For times: the strftime formats an attribute's text may have.
    time_formats: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Limits:
    memory_limit: str
    temp_dir: Path
    threads: int | None = None


def pointer(*names: str) -> str:
    """A JSON pointer (`/Item/LogId/N`): any attribute name, `~` and `/` escaped (RFC 6901)."""
    return "".join("/" + n.replace("~", "~0").replace("/", "~1") for n in names)


class _Paths:
    """The JSON pointers one `json_extract_string` reads from each line, parsing it once."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def at(self, *names: str) -> str:
        path = pointer("Item", *names)
        if path not in self.paths:
            self.paths.append(path)
        return f"v[{self.paths.index(path) + 1}]"

    def sql(self) -> str:
        return "[" + ", ".join(literal(p) for p in self.paths) + "]"


def _field_expr(f: ComparedField, paths: _Paths) -> str:
    """The value compared for one attribute, as the snapshot computes it for its column.

    `json_extract_string` gives an N's digits and a BOOL as `true`/`false`: the text
    `column::text` gives in PostgreSQL.
    """
    if f.value == "epoch_us":
        formats = "[" + ", ".join(literal(x) for x in f.time_formats) + "]"
        return f"epoch_us(try_strptime({paths.at(f.attribute, 'S')}, {formats}))"
    text = ", ".join(paths.at(f.attribute, tag) for tag in ("S", "N", "BOOL"))
    return f"md5(coalesce({text}))"


class ExportComparer:
    """Loads both sides into one DuckDB database, then names the differences.

    The database is in memory, within DuckDB's share of `memory_limit` (`export_memory`);
    what does not fit spills to `temp_dir`.
    (A database file costs more: its tables are compressed as they are written, ~20 % of
    the export's read at 10M records, to be read back from the same disk as the spill.)
    """

    def __init__(
        self, mapping: TableMapping, key_kind: KeyKind, limits: Limits, *, int64_keys: bool = False
    ) -> None:
        self.mapping = mapping
        self.key_kind = key_kind
        #: Numeric keys held in 64 bits, when the SQL column holds no more (half of HUGEINT's
        #: 16 bytes a row, on both sides); an item's key beyond that widens the column.
        self.int64_keys = int64_keys and key_kind is KeyKind.NUMBER
        limits.temp_dir.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(":memory:")
        try:
            if limits.threads:
                self.con.execute(f"SET threads = {int(limits.threads)}")
            threads = self._one("SELECT current_setting('threads')::INTEGER")
            #: DuckDB's pool: its share of the limit, once the process around it is counted.
            self.memory = share_memory(limits.memory_limit, resident_bytes(), threads)
        except BaseException:
            self.con.close()
            raise
        self.con.execute(f"SET memory_limit = '{self.memory.pool >> 10}KiB'")
        self.con.execute(f"SET temp_directory = {literal(str(limits.temp_dir / 'spill'))}")
        self.con.execute("SET preserve_insertion_order = false")
        #: The snapshot's partition and sort keys, as SQL over `sql_raw`'s columns.
        self._pk, self._sk = "pk", "sk"
        #: The snapshot's rows with their row id (`row`), partition key hash (`h`) and whether
        #: they have a key (`keyed`), as `load_snapshot` makes them.
        self._sql_rows = "(SELECT rowid AS row, *, true AS keyed FROM sql_raw)"
        self._keyed = "true"
        self._put_back = 0

    def close(self) -> None:
        self.con.close()

    @property
    def _key_type(self) -> str:
        if self.key_kind is not KeyKind.NUMBER:
            return "VARCHAR"
        return "BIGINT" if self.int64_keys else "HUGEINT"

    # --- loading -------------------------------------------------------------------------

    def load_export(self, paths: Sequence[Path], fields: Sequence[ComparedField]) -> None:
        """Each line read as text and parsed once (one multi-path `json_extract_string`).

        The line reader (`read_csv` with a delimiter no JSON line holds unescaped) costs about
        half of `read_json_objects`, which scans each object's structure before the extract
        parses it again.
        """
        m = self.mapping
        at = _Paths()
        pk, sk = at.at(m.partition_key, "S"), at.at(m.sort_key, "S")
        key_n, key_s = at.at(m.key_attribute, "N"), at.at(m.key_attribute, "S")
        status = at.at(m.status_attribute, "S")
        if self.key_kind is KeyKind.NUMBER:
            fast_key = (
                f"CASE WHEN regexp_full_match({key_n}, '-?[0-9]{{1,38}}') AND {key_s} IS NULL"
                f" THEN TRY_CAST({key_n} AS {self._key_type}) END"
            )
        else:
            fast_key = f"CASE WHEN {key_n} IS NULL THEN {key_s} END"
        values = "".join(f", {_field_expr(f, at)} AS f_{i}" for i, f in enumerate(fields))
        names = _field_columns(fields)
        key_path = literal(pointer("Item", m.key_attribute))
        status_path = literal(pointer("Item", m.status_attribute))
        # Slow: no fast key, or a status attribute that is not an S (looked up only for the
        # rare line with no S status, so the common line costs one parse and no more). A slow
        # item keeps its two attributes' JSON in one column (`raw`, NULL on every other row:
        # one column less to hold and spill), joined by U+0001, which JSON text never holds.
        self.con.execute(
            f"""
            CREATE TABLE dyn AS
            SELECT pk, sk, key, status, hash(pk) AS h,
                CASE WHEN slow THEN
                    coalesce(json_extract(line, {key_path})::VARCHAR, '') || chr(1)
                    || coalesce(json_extract(line, {status_path})::VARCHAR, '')
                END AS raw{names}
            FROM (
                SELECT *, CASE WHEN key IS NULL THEN true WHEN status IS NOT NULL THEN false
                    ELSE json_extract(line, {status_path}) IS NOT NULL END AS slow
                FROM (
                    SELECT line, {pk} AS pk, {sk} AS sk, {fast_key} AS key, {status} AS status
                        {values}
                    FROM (
                        SELECT line, json_extract_string(line, {at.sql()}) AS v
                        FROM {export_lines(paths)}
                        WHERE line IS NOT NULL
                    )
                )
            )
            """
        )
        # The partition keys, once each: few distinct (a partition holds many items), and a
        # third of the table's bytes (at 10M records, 305 of 1,134 MB) that would otherwise
        # be held and spilled. A row's is found again by its hash (`h`), for the rows named.
        self.con.execute(
            "CREATE TABLE dyn_pk AS SELECT DISTINCT h, pk FROM dyn WHERE pk IS NOT NULL"
        )
        self.con.execute("ALTER TABLE dyn DROP COLUMN pk")
        #: Rows from here on (row ids) are slow items put back, readable (`compare`).
        self._put_back = self._one("SELECT count(*) FROM dyn")

    def load_snapshot(
        self,
        paths: Sequence[Path],
        columns: Sequence[tuple[str, str]],
        raw_keys: Sequence[tuple[str, str]] = (),
    ) -> None:
        """The snapshot's CSV files; `columns` are (name, DuckDB type), "" for the key columns'.

        With `raw_keys` ((CSV column, template column), as `Snapshot.raw_keys`) the partition
        and sort keys are rendered here from the templates, as `to_char` renders them in
        PostgreSQL (`strftime` of the time in epoch microseconds: the same directives): the
        partition key for the join's hash, once per group of rows where its template allows
        (`export_keys.partition_groups`), else once per row; both keys again for the rows a
        finding names. A row is keyed when no column its templates use is NULL.
        """
        m = self.mapping
        raw = dict((column, name) for name, column in raw_keys)
        types = {"key": self._key_type, "status": "VARCHAR", "pk": "VARCHAR", "sk": "VARCHAR"}
        types |= {
            name: "BIGINT" if c == m.timestamp_column else "VARCHAR" for c, name in raw.items()
        }
        spec = ", ".join(f"{literal(c)}: {literal(t or types[c])}" for c, t in columns)
        files = "[" + ", ".join(literal(str(p)) for p in paths) + "]"
        groups = None
        if raw_keys:
            # Only the partition key's hash is kept: both keys are rendered again for the few
            # rows a finding names (`_named`), not for every row (strftime is the costly part).
            self._pk = render_template_sql(m.partition_template, m.key_column, raw)
            self._sk = render_template_sql(m.sort_template, m.key_column, raw)
            used = {*m.partition_template.columns, *m.sort_template.columns}
            keyed = " AND ".join(
                ["key IS NOT NULL", *(f"{quote(raw[c])} IS NOT NULL" for c in used if c in raw)]
            )
            groups = partition_groups(m.partition_template, m.key_column, raw)
        else:
            keyed = "pk IS NOT NULL AND sk IS NOT NULL"
        source = (
            f"read_csv({files}, header = false, columns = {{{spec}}},"
            " allow_quoted_nulls = false, auto_detect = false)"
        )
        #: Whether a row has a key (every column its templates use): computed, not stored.
        self._keyed = f"({keyed})"
        rows = f"(SELECT rowid AS row, *, {self._keyed} AS keyed FROM sql_raw)"
        if groups is None:
            self.con.execute(
                f"CREATE TABLE sql_raw AS SELECT *, hash({self._pk}) AS h FROM {source}"
            )
            self._sql_rows = rows
            return
        # The partition key rendered and hashed once per group of rows (`export_keys`); a
        # row's group is computed where it is joined, not stored with it (less to spill).
        self.con.execute(f"CREATE TABLE sql_raw AS SELECT * FROM {source}")
        cut = dict(groups.cut)
        of_row = [cut.get(c, quote(c)) for c in groups.columns]
        distinct = ", ".join(
            f"{sql} AS {quote(c)}" for c, sql in zip(groups.columns, of_row, strict=True)
        )
        by = ", ".join(quote(c) for c in groups.columns)
        self.con.execute(
            f"CREATE TABLE pk_groups AS SELECT {by}, hash({groups.rendered}) AS h"
            f" FROM (SELECT DISTINCT {distinct} FROM sql_raw)"
        )
        same = " AND ".join(
            f"{sql if c in cut else 'r.' + sql} IS NOT DISTINCT FROM p.{quote(c)}"
            for c, sql in zip(groups.columns, of_row, strict=True)
        )
        self._sql_rows = f"(SELECT r.*, p.h FROM {rows} AS r JOIN pk_groups AS p ON {same})"

    # --- comparing -----------------------------------------------------------------------

    def compare(
        self,
        sk_range: tuple[str | None, str],
        fields: Sequence[ComparedField],
    ) -> Comparison:
        m = self.mapping
        out = Comparison()
        lo, hi = sk_range
        in_range = f"sk < {literal(hi)}" + ("" if lo is None else f" AND sk >= {literal(lo)}")
        out.export_items = self._one("SELECT count(*) FROM dyn")
        out.keyless = self._one(f"SELECT count(*) FROM sql_raw WHERE NOT {self._keyed}")

        # The slow path: items the SQL fast path could not read, decoded by the mapping.
        rows = self.con.execute(
            f"SELECT pk, sk, raw FROM {_with_pk('dyn')} WHERE raw IS NOT NULL"
            f" AND (sk IS NULL OR ({in_range}))"
        ).fetchall()
        slow = decode_slow(m, [(pk, sk, *_split_raw(raw)) for pk, sk, raw in rows])
        out.tally.findings += slow.invalid
        put_back = f"rowid >= {int(self._put_back)}"
        if slow.readable:  # back into the table, keyed now (their fields stay unread: NULL)
            if self.int64_keys and any(not _fits_int64(key) for key, *_ in slow.readable):
                # No SQL row has this key: the item is missing there, named by its exact key.
                self.con.execute("ALTER TABLE dyn ALTER key TYPE HUGEINT")
            self.con.executemany(
                "INSERT INTO dyn (key, status, h, sk) SELECT $1, $2, hash($3::VARCHAR), $4",
                slow.readable,
            )
            self.con.executemany(
                "INSERT INTO dyn_pk SELECT hash($1::VARCHAR), $1::VARCHAR WHERE $1 IS NOT NULL"
                " AND NOT EXISTS (SELECT 1 FROM dyn_pk WHERE pk = $1)",
                [(pk,) for _, _, pk, _ in slow.readable],
            )
        self.con.execute(
            "CREATE VIEW d AS SELECT rowid AS row, * FROM dyn"
            f" WHERE raw IS NULL AND ({put_back} OR {in_range})"
        )
        values = _field_columns(fields)
        self.con.execute(
            f"CREATE VIEW s AS SELECT row, key, h, status{values} FROM {self._sql_rows} WHERE keyed"
        )
        sql_rows = self._one(f"SELECT count(*) FROM sql_raw WHERE {self._keyed}")  # = s's
        dynamo_items = self._one("SELECT count(*) FROM d")
        pairs = self._join(fields, max(sql_rows, dynamo_items))
        self.con.execute(f"CREATE TABLE diff AS {self._named('diff_rows', fields)}")
        self._pair_duplicates(pairs, sql_rows, dynamo_items, fields)
        abandoned = sorted(m.status_values.abandoned)
        abandoned_sql = "(" + ", ".join(literal(a) for a in abandoned) + ")"
        agreed_sql = self._one(
            f"SELECT count(*) FROM diff WHERE d_key IS NULL AND s_status IN {abandoned_sql}"
        )
        agreed_dynamo = self._one(
            f"SELECT count(*) FROM diff WHERE s_key IS NULL AND d_status IN {abandoned_sql}"
        )
        unmatched_sql = self._one("SELECT count(*) FROM diff WHERE d_key IS NULL")
        JoinCounts(
            sql_rows, dynamo_items, agreed_sql, agreed_dynamo, unmatched_sql, len(slow.invalid)
        ).count_into(out.tally)

        rows = self.con.execute(
            f"""
            SELECT s_key, s_status, s_pk, s_sk, d_key, d_status, d_pk, d_sk
            FROM diff
            WHERE (d_key IS NULL AND (s_status IS NULL OR s_status NOT IN {abandoned_sql}))
               OR (s_key IS NULL AND (d_status IS NULL OR d_status NOT IN {abandoned_sql}))
               OR (s_key IS NOT NULL AND d_key IS NOT NULL AND s_status IS DISTINCT FROM d_status)
            """
        ).fetchall()
        for row in rows:
            found = key_finding(DiffRow(*row), slow.unreadable, m.status_values.abandoned)
            if found is not None:
                out.tally.findings.append(found)
        for i, f in enumerate(fields):
            out.tally.findings += self._field_findings(i, f)
        return out

    def _join(self, fields: Sequence[ComparedField], rows: int) -> int:
        """One pass of the join, in pieces by key range, into `diff_rows` (the row ids of the
        pairs that differ); returns how many pairs it joined (`_pair_duplicates` needs it).

        Each piece is one aggregate: the count of its pairs and the list of its differing
        ones, so no table of every pair is written and read again (at 10M records the compare
        step took 3.8 CPU s against 4.9 with one). A list holds at most a piece's rows."""
        self.con.execute("CREATE TABLE diff_rows (s_row BIGINT, d_row BIGINT)")
        pairs = 0
        for piece in self._join_pieces(rows):
            sides = _narrow("s", fields, piece), _narrow("d", fields, piece)
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE piece AS SELECT"
                " count(*) FILTER (WHERE s_row IS NOT NULL AND d_row IS NOT NULL) AS pairs,"
                " list({'s': s_row, 'd': d_row}) FILTER (WHERE differs) AS rows"
                f" FROM ({_join_query(*sides, fields)})"
            )
            pairs += self._one("SELECT pairs FROM piece")
            self.con.execute(
                "INSERT INTO diff_rows SELECT u.s, u.d FROM (SELECT unnest(rows) AS u FROM piece)"
            )
        self.con.execute("DROP TABLE IF EXISTS piece")
        return pairs

    def _join_pieces(self, rows: int) -> list[str]:
        """The key ranges the join runs in, as conditions on `key` ("" for the whole).

        A record's pairs all have its key, so joining piece by piece joins the same pairs; a
        hash table of ~`JOIN_PIECE_ROWS` a side stays far more in cache than one of 10M rows
        (at 10M records: 3.1-3.4 CPU s in 10 pieces against 5.9-6.9 in one). The ranges split
        the keys' span evenly: keys bunched in one range only make a bigger piece. Text keys
        are joined whole (a condition on them would scan every row once per piece)."""
        parts = -(-rows // JOIN_PIECE_ROWS)
        if self.key_kind is not KeyKind.NUMBER or parts < 2:
            return [""]
        row = self.con.execute(
            f"SELECT min(key), max(key) FROM (SELECT key FROM sql_raw WHERE {self._keyed}"
            " UNION ALL SELECT key FROM d)"
        ).fetchone()
        if row is None or row[0] is None:
            return [""]
        low, high = int(row[0]), int(row[1])
        edges = sorted({low + (high - low) * i // parts for i in range(1, parts)} - {low})
        if not edges:
            return [""]
        pieces = [f"key < {edges[0]}"]
        pieces += [f"key >= {a} AND key < {b}" for a, b in zip(edges, edges[1:], strict=False)]
        return [*pieces, f"key >= {edges[-1]}"]

    def _pair_duplicates(
        self, joined: int, sql_rows: int, dynamo_items: int, fields: Sequence[ComparedField]
    ) -> None:
        """Make `diff` a multiset difference, as the online checks' diff is.

        A key on one side k times and on the other m times joins k x m times: an extra copy of
        an item (or of a SQL row, in a table with no unique key) would hide behind its twin, or
        one divergent copy would be reported once per twin. The check is one count (`joined`,
        the pairs the join made): with every key matched at most once, the pairs joined are
        exactly the rows of either side not left unmatched. Only when that fails are the duplicated keys paired one to one (ordered by
        status, then sort key) and their rows of `diff` replaced.
        """
        only_sql = self._one("SELECT count(*) FROM diff WHERE d_key IS NULL")
        only_dynamo = self._one("SELECT count(*) FROM diff WHERE s_key IS NULL")
        if joined == sql_rows - only_sql == dynamo_items - only_dynamo:
            return
        self.con.execute(
            f"CREATE TABLE twins AS SELECT s.key, s.h FROM {_narrow('s', [])} AS s"
            f" JOIN {_narrow('d', [])} AS d ON {_JOIN_ON} GROUP BY s.key, s.h HAVING count(*) > 1"
        )
        self.con.execute(
            "DELETE FROM diff WHERE EXISTS (SELECT 1 FROM twins t WHERE"
            " t.h = hash(coalesce(diff.s_pk, diff.d_pk)) AND t.key = coalesce(diff.s_key, diff.d_key))"
        )
        order = " NULLS LAST, ".join(["status", "sk", *(f"f_{i}" for i in range(len(fields)))])
        values = _field_columns(fields)
        sides = (
            (
                f"SELECT row, key, h, status, {self._sk} AS sk{values} FROM {self._sql_rows}"
                " WHERE keyed",
                "twin_s",
            ),
            ("SELECT * FROM d", "twin_d"),
        )
        for side, view in sides:
            self.con.execute(
                f"CREATE VIEW {view} AS SELECT *, row_number() OVER (PARTITION BY key, h"
                f" ORDER BY {order} NULLS LAST) AS copy FROM ({side})"
                " AS x WHERE EXISTS (SELECT 1 FROM twins t WHERE t.h = x.h AND t.key = x.key)"
            )
        paired = _diff_query("twin_s", "twin_d", fields, "AND s.copy = d.copy")
        self.con.execute(f"CREATE TABLE twin_rows AS {paired}")
        self.con.execute(f"INSERT INTO diff {self._named('twin_rows', fields)}")

    def _named(self, rows: str, fields: Sequence[ComparedField]) -> str:
        """The differing rows of table `rows` (row ids), with both sides' key, status, partition
        and sort key: the snapshot's keys rendered for these rows alone."""
        values = _field_columns(fields)
        pairs = "".join(f", s.f_{i} AS s_f_{i}, d.f_{i} AS d_f_{i}" for i in range(len(fields)))
        dynamo_rows = f"(SELECT rowid AS row, * FROM dyn WHERE rowid IN (SELECT d_row FROM {rows}))"
        return f"""
            SELECT s.key AS s_key, s.status AS s_status, s.pk AS s_pk, s.sk AS s_sk,
                   d.key AS d_key, d.status AS d_status, d.pk AS d_pk, d.sk AS d_sk{pairs}
            FROM {rows} AS x
            LEFT JOIN (
                SELECT rowid AS row, key, status, {self._pk} AS pk, {self._sk} AS sk{values}
                FROM sql_raw WHERE rowid IN (SELECT s_row FROM {rows})
            ) AS s ON s.row = x.s_row
            LEFT JOIN (
                SELECT row, key, status, pk, sk{values}
                FROM {_with_pk(dynamo_rows)}
            ) AS d ON d.row = x.d_row
            """

    def _field_findings(self, index: int, f: ComparedField) -> list[Finding]:
        rows = self.con.execute(
            f"""
            SELECT s_key, s_pk, s_sk, s_f_{index}, d_f_{index} FROM diff
            WHERE s_key IS NOT NULL AND d_key IS NOT NULL AND {_field_differs(index, f, "s_f_", "d_f_")}
            """
        ).fetchall()
        return [
            field_finding(key, pk, sk, f.attribute, f.value, left, right)
            for key, pk, sk, left, right in rows
        ]

    def _one(self, sql: str) -> int:
        row = self.con.execute(sql).fetchone()
        return 0 if row is None else int(row[0])

    # --- progress ------------------------------------------------------------------------

    @contextmanager
    def watched(self, report: Callable[[float], None] | None) -> Iterator[None]:
        """While the body runs a query, report DuckDB's own progress (0-100) every half second."""
        if report is None:
            yield
            return
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(0.5):
                try:
                    value = self.con.query_progress()
                except duckdb.Error:
                    continue
                if value >= 0:
                    report(float(value))

        watcher = threading.Thread(target=poll, name="duckdb-progress", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()


#: Rows a side of one piece of the join holds, about (`ExportComparer._join_pieces`).
JOIN_PIECE_ROWS = 1_000_000


def _with_pk(rows: str) -> str:
    """Rows of the export's table with their partition key found again by its hash (the table
    keeps only the hash: `ExportComparer.load_export`)."""
    return f"(SELECT r.*, dyn_pk.pk FROM {rows} AS r LEFT JOIN dyn_pk USING (h))"


#: The join of the two sides: a record is its key within its partition. The partition key is
#: joined by its 64-bit hash: the join's rows stay narrow (it spills far less), and the rows
#: that differ are named afterwards from the tables by row id.
_JOIN_ON = "s.key = d.key AND s.h = d.h"


def _fits_int64(key: object) -> bool:
    return not isinstance(key, int) or -(2**63) <= key < 2**63


def _split_raw(raw: str) -> tuple[str | None, str | None]:
    """A slow item's (key attribute JSON, status attribute JSON), as `load_export` joined them."""
    key, _, status = raw.partition("\x01")
    return key or None, status or None


def _field_columns(fields: Sequence[ComparedField]) -> str:
    """`, f_0, f_1, ...`: the compared fields' columns, as each side's table names them."""
    return "".join(f", f_{i}" for i in range(len(fields)))


def _narrow(side: str, fields: Sequence[ComparedField], where: str = "") -> str:
    """What the join needs of one side (`where` it holds): row id, key, partition key's
    hash, status, fields."""
    condition = f" WHERE {where}" if where else ""
    return f"(SELECT row, key, h, status{_field_columns(fields)} FROM {side}{condition})"


def _differs(fields: Sequence[ComparedField]) -> str:
    """Whether a pair of the full outer join differs: one side absent, or a value unequal."""
    differs = ["s.key IS NULL", "d.key IS NULL", "s.status IS DISTINCT FROM d.status"]
    differs += [_field_differs(i, f) for i, f in enumerate(fields)]
    return " OR ".join(differs)


def _join_query(sql_side: str, dynamo_side: str, fields: Sequence[ComparedField]) -> str:
    """Every pair of a full outer join of two narrow sides: their row ids, and `differs`."""
    return f"""
        SELECT s.row AS s_row, d.row AS d_row, ({_differs(fields)}) AS differs
        FROM {sql_side} AS s FULL OUTER JOIN {dynamo_side} AS d ON {_JOIN_ON}
        """


def _diff_query(
    sql_side: str, dynamo_side: str, fields: Sequence[ComparedField], also_on: str = ""
) -> str:
    """The row ids of the rows that differ in a full outer join of two narrow sides."""
    return f"""
        SELECT s.row AS s_row, d.row AS d_row
        FROM {sql_side} AS s FULL OUTER JOIN {dynamo_side} AS d ON {_JOIN_ON} {also_on}
        WHERE {_differs(fields)}
        """


def _field_differs(index: int, f: ComparedField, left: str = "s.f_", right: str = "d.f_") -> str:
    a, b = f"{left}{index}", f"{right}{index}"
    if f.value == "epoch_us":
        return f"(({a} IS NULL) <> ({b} IS NULL) OR abs({a} - {b}) > {int(f.tolerance_us)})"
    return f"{a} IS DISTINCT FROM {b}"
