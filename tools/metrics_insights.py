"""CloudWatch Metrics Insights queries, checked offline: the grammar's basics and the reserved keywords.

The documented syntax (QUERY_SYNTAX_URL), which `parse` reads:

    SELECT FUNCTION(metricName)
    FROM namespace | SCHEMA(namespace [, labelKey ...])
    [ WHERE labelKey OPERATOR 'labelValue' [ AND ... ] ]
    [ GROUP BY labelKey [ , ... ] ]
    [ ORDER BY FUNCTION() [ DESC | ASC ] ]
    [ LIMIT number ]

FUNCTION is AVG, COUNT, MAX, MIN or SUM; OPERATOR `=` or `!=`; keywords are not case sensitive,
identifiers (namespace, metric name, label keys) are. An identifier with a character other than a
letter, digit or underscore, or one that is a reserved keyword (RESERVED_KEYWORDS, not case sensitive),
must be double-quoted; quoting any identifier is valid. Label values are single-quoted. A query this
module cannot read (another operator, OR, parentheses in WHERE) is reported as unreadable rather than
passed.

For alarms (ALARM_LIMITS_URL): an alarm over a query that returns several time series (GROUP BY)
evaluates each series as a contributor, and at most ALARM_CONTRIBUTOR_CEILING contributors are in
ALARM at once; AWS's multi-time-series alarm examples order the series (ORDER BY ... DESC,
MULTI_SERIES_ALARM_URL), and a LIMIT no larger than the ceiling makes the series evaluated the ones
the ordering puts first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

QUERY_SYNTAX_URL = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-querylanguage.html"
RESERVED_KEYWORDS_URL = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-reserved-keywords.html"
ALARM_LIMITS_URL = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html"
MULTI_SERIES_ALARM_URL = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/multi-time-series-alarm.html"
)

#: The aggregation functions of SELECT and ORDER BY.
FUNCTIONS = frozenset({"AVG", "COUNT", "MAX", "MIN", "SUM"})
#: A query returns at most this many time series, and LIMIT takes at most this (QUERY_SYNTAX_URL).
MAX_LIMIT = 500
#: "Alarms evaluating multiple time series will limit the number of contributors in ALARM to 100"
#: (ALARM_LIMITS_URL; fewer when the contributors' attributes are large).
ALARM_CONTRIBUTOR_CEILING = 100

# RESERVED_KEYWORDS_URL, as published (917 words; the page's one missing closing quote, after
# FALLBACK, restored). "If any of these words are in a namespace, metric name, or label key in a
# query, you must enclose them in double quote marks. Reserved keywords are not case sensitive."
_RESERVED = """
ABORT ABORTSESSION ABS ABSOLUTE ACCESS ACCESSIBLE ACCESS_LOCK ACCOUNT ACOS ACOSH ACTION ADD ADD_MONTHS
ADMIN AFTER AGGREGATE ALIAS ALL ALLOCATE ALLOW ALTER ALTERAND AMP ANALYSE ANALYZE AND ANSIDATE ANY ARE
ARRAY ARRAY_AGG ARRAY_EXISTS ARRAY_MAX_CARDINALITY AS ASC ASENSITIVE ASIN ASINH ASSERTION ASSOCIATE
ASUTIME ASYMMETRIC AT ATAN ATAN2 ATANH ATOMIC AUDIT AUTHORIZATION AUX AUXILIARY AVE AVERAGE AVG BACKUP
BEFORE BEGIN BEGIN_FRAME BEGIN_PARTITION BETWEEN BIGINT BINARY BIT BLOB BOOLEAN BOTH BREADTH BREAK
BROWSE BT BUFFERPOOL BULK BUT BY BYTE BYTEINT BYTES CALL CALLED CAPTURE CARDINALITY CASCADE CASCADED
CASE CASESPECIFIC CASE_N CAST CATALOG CCSID CD CEIL CEILING CHANGE CHAR CHAR2HEXINT CHARACTER CHARACTERS
CHARACTER_LENGTH CHARS CHAR_LENGTH CHECK CHECKPOINT CLASS CLASSIFIER CLOB CLONE CLOSE CLUSTER CLUSTERED
CM COALESCE COLLATE COLLATION COLLECT COLLECTION COLLID COLUMN COLUMN_VALUE COMMENT COMMIT COMPLETION
COMPRESS COMPUTE CONCAT CONCURRENTLY CONDITION CONNECT CONNECTION CONSTRAINT CONSTRAINTS CONSTRUCTOR
CONTAINS CONTAINSTABLE CONTENT CONTINUE CONVERT CONVERT_TABLE_HEADER COPY CORR CORRESPONDING COS COSH
COUNT COVAR_POP COVAR_SAMP CREATE CROSS CS CSUM CT CUBE CUME_DIST CURRENT CURRENT_CATALOG CURRENT_DATE
CURRENT_DEFAULT_TRANSFORM_GROUP CURRENT_LC_CTYPE CURRENT_PATH CURRENT_ROLE CURRENT_ROW CURRENT_SCHEMA
CURRENT_SERVER CURRENT_TIME CURRENT_TIMESTAMP CURRENT_TIMEZONE CURRENT_TRANSFORM_GROUP_FOR_TYPE
CURRENT_USER CURRVAL CURSOR CV CYCLE DATA DATABASE DATABASES DATABLOCKSIZE DATE DATEFORM DAY DAYS
DAY_HOUR DAY_MICROSECOND DAY_MINUTE DAY_SECOND DBCC DBINFO DEALLOCATE DEC DECFLOAT DECIMAL DECLARE
DEFAULT DEFERRABLE DEFERRED DEFINE DEGREES DEL DELAYED DELETE DENSE_RANK DENY DEPTH DEREF DESC DESCRIBE
DESCRIPTOR DESTROY DESTRUCTOR DETERMINISTIC DIAGNOSTIC DIAGNOSTICS DICTIONARY DISABLE DISABLED DISALLOW
DISCONNECT DISK DISTINCT DISTINCTROW DISTRIBUTED DIV DO DOCUMENT DOMAIN DOUBLE DROP DSSIZE DUAL DUMP
DYNAMIC EACH ECHO EDITPROC ELEMENT ELSE ELSEIF EMPTY ENABLED ENCLOSED ENCODING ENCRYPTION END END-EXEC
ENDING END_FRAME END_PARTITION EQ EQUALS ERASE ERRLVL ERROR ERRORFILES ERRORTABLES ESCAPE ESCAPED ET
EVERY EXCEPT EXCEPTION EXCLUSIVE EXEC EXECUTE EXISTS EXIT EXP EXPLAIN EXTERNAL EXTRACT FALLBACK FALSE
FASTEXPORT FENCED FETCH FIELDPROC FILE FILLFACTOR FILTER FINAL FIRST FIRST_VALUE FLOAT FLOAT4 FLOAT8
FLOOR FOR FORCE FOREIGN FORMAT FOUND FRAME_ROW FREE FREESPACE FREETEXT FREETEXTTABLE FREEZE FROM FULL
FULLTEXT FUNCTION FUSION GE GENERAL GENERATED GET GIVE GLOBAL GO GOTO GRANT GRAPHIC GROUP GROUPING
GROUPS GT HANDLER HASH HASHAMP HASHBAKAMP HASHBUCKET HASHROW HAVING HELP HIGH_PRIORITY HOLD HOLDLOCK
HOUR HOURS HOUR_MICROSECOND HOUR_MINUTE HOUR_SECOND IDENTIFIED IDENTITY IDENTITYCOL IDENTITY_INSERT IF
IGNORE ILIKE IMMEDIATE IN INCLUSIVE INCONSISTENT INCREMENT INDEX INDICATOR INFILE INHERIT INITIAL
INITIALIZE INITIALLY INITIATE INNER INOUT INPUT INS INSENSITIVE INSERT INSTEAD INT INT1 INT2 INT3 INT4
INT8 INTEGER INTEGERDATE INTERSECT INTERSECTION INTERVAL INTO IO_AFTER_GTIDS IO_BEFORE_GTIDS IS ISNULL
ISOBID ISOLATION ITERATE JAR JOIN JOURNAL JSON_ARRAY JSON_ARRAYAGG JSON_EXISTS JSON_OBJECT
JSON_OBJECTAGG JSON_QUERY JSON_TABLE JSON_TABLE_PRIMITIVE JSON_VALUE KEEP KEY KEYS KILL KURTOSIS LABEL
LAG LANGUAGE LARGE LAST LAST_VALUE LATERAL LC_CTYPE LE LEAD LEADING LEAVE LEFT LESS LEVEL LIKE
LIKE_REGEX LIMIT LINEAR LINENO LINES LISTAGG LN LOAD LOADING LOCAL LOCALE LOCALTIME LOCALTIMESTAMP
LOCATOR LOCATORS LOCK LOCKING LOCKMAX LOCKSIZE LOG LOG10 LOGGING LOGON LONG LONGBLOB LONGTEXT LOOP LOWER
LOW_PRIORITY LT MACRO MAINTAINED MAP MASTER_BIND MASTER_SSL_VERIFY_SERVER_CERT MATCH MATCHES
MATCH_NUMBER MATCH_RECOGNIZE MATERIALIZED MAVG MAX MAXEXTENTS MAXIMUM MAXVALUE MCHARACTERS MDIFF
MEDIUMBLOB MEDIUMINT MEDIUMTEXT MEMBER MERGE METHOD MICROSECOND MICROSECONDS MIDDLEINT MIN MINDEX
MINIMUM MINUS MINUTE MINUTES MINUTE_MICROSECOND MINUTE_SECOND MLINREG MLOAD MLSLABEL MOD MODE MODIFIES
MODIFY MODULE MONITOR MONRESOURCE MONSESSION MONTH MONTHS MSUBSTR MSUM MULTISET NAMED NAMES NATIONAL
NATURAL NCHAR NCLOB NE NESTED_TABLE_ID NEW NEW_TABLE NEXT NEXTVAL NO NOAUDIT NOCHECK NOCOMPRESS
NONCLUSTERED NONE NORMALIZE NOT NOTNULL NOWAIT NO_WRITE_TO_BINLOG NTH_VALUE NTILE NULL NULLIF NULLIFZERO
NULLS NUMBER NUMERIC NUMPARTS OBID OBJECT OBJECTS OCCURRENCES_REGEX OCTET_LENGTH OF OFF OFFLINE OFFSET
OFFSETS OLD OLD_TABLE OMIT ON ONE ONLINE ONLY OPEN OPENDATASOURCE OPENQUERY OPENROWSET OPENXML OPERATION
OPTIMIZATION OPTIMIZE OPTIMIZER_COSTS OPTION OPTIONALLY OR ORDER ORDINALITY ORGANIZATION OUT OUTER
OUTFILE OUTPUT OVER OVERLAPS OVERLAY OVERRIDE PACKAGE PAD PADDED PARAMETER PARAMETERS PART PARTIAL
PARTITION PARTITIONED PARTITIONING PASSWORD PATH PATTERN PCTFREE PER PERCENT PERCENTILE PERCENTILE_CONT
PERCENTILE_DISC PERCENT_RANK PERIOD PERM PERMANENT PIECESIZE PIVOT PLACING PLAN PORTION POSITION
POSITION_REGEX POSTFIX POWER PRECEDES PRECISION PREFIX PREORDER PREPARE PRESERVE PREVVAL PRIMARY PRINT
PRIOR PRIQTY PRIVATE PRIVILEGES PROC PROCEDURE PROFILE PROGRAM PROPORTIONAL PROTECTION PSID PTF PUBLIC
PURGE QUALIFIED QUALIFY QUANTILE QUERY QUERYNO RADIANS RAISERROR RANDOM RANGE RANGE_N RANK RAW READ
READS READTEXT READ_WRITE REAL RECONFIGURE RECURSIVE REF REFERENCES REFERENCING REFRESH REGEXP REGR_AVGX
REGR_AVGY REGR_COUNT REGR_INTERCEPT REGR_R2 REGR_SLOPE REGR_SXX REGR_SXY REGR_SYY RELATIVE RELEASE
RENAME REPEAT REPLACE REPLICATION REPOVERRIDE REQUEST REQUIRE RESIGNAL RESOURCE RESTART RESTORE RESTRICT
RESULT RESULT_SET_LOCATOR RESUME RET RETRIEVE RETURN RETURNING RETURNS REVALIDATE REVERT REVOKE RIGHT
RIGHTS RLIKE ROLE ROLLBACK ROLLFORWARD ROLLUP ROUND_CEILING ROUND_DOWN ROUND_FLOOR ROUND_HALF_DOWN
ROUND_HALF_EVEN ROUND_HALF_UP ROUND_UP ROUTINE ROW ROWCOUNT ROWGUIDCOL ROWID ROWNUM ROWS ROWSET
ROW_NUMBER RULE RUN RUNNING SAMPLE SAMPLEID SAVE SAVEPOINT SCHEMA SCHEMAS SCOPE SCRATCHPAD SCROLL SEARCH
SECOND SECONDS SECOND_MICROSECOND SECQTY SECTION SECURITY SECURITYAUDIT SEEK SEL SELECT
SEMANTICKEYPHRASETABLE SEMANTICSIMILARITYDETAILSTABLE SEMANTICSIMILARITYTABLE SENSITIVE SEPARATOR
SEQUENCE SESSION SESSION_USER SET SETRESRATE SETS SETSESSRATE SETUSER SHARE SHOW SHUTDOWN SIGNAL SIMILAR
SIMPLE SIN SINH SIZE SKEW SKIP SMALLINT SOME SOUNDEX SOURCE SPACE SPATIAL SPECIFIC SPECIFICTYPE SPOOL
SQL SQLEXCEPTION SQLSTATE SQLTEXT SQLWARNING SQL_BIG_RESULT SQL_CALC_FOUND_ROWS SQL_SMALL_RESULT SQRT SS
SSL STANDARD START STARTING STARTUP STAT STATE STATEMENT STATIC STATISTICS STAY STDDEV_POP STDDEV_SAMP
STEPINFO STOGROUP STORED STORES STRAIGHT_JOIN STRING_CS STRUCTURE STYLE SUBMULTISET SUBSCRIBER SUBSET
SUBSTR SUBSTRING SUBSTRING_REGEX SUCCEEDS SUCCESSFUL SUM SUMMARY SUSPEND SYMMETRIC SYNONYM SYSDATE
SYSTEM SYSTEM_TIME SYSTEM_USER SYSTIMESTAMP TABLE TABLESAMPLE TABLESPACE TAN TANH TBL_CS TEMPORARY
TERMINATE TERMINATED TEXTSIZE THAN THEN THRESHOLD TIME TIMESTAMP TIMEZONE_HOUR TIMEZONE_MINUTE TINYBLOB
TINYINT TINYTEXT TITLE TO TOP TRACE TRAILING TRAN TRANSACTION TRANSLATE TRANSLATE_CHK TRANSLATE_REGEX
TRANSLATION TREAT TRIGGER TRIM TRIM_ARRAY TRUE TRUNCATE TRY_CONVERT TSEQUAL TYPE UC UESCAPE UID
UNDEFINED UNDER UNDO UNION UNIQUE UNKNOWN UNLOCK UNNEST UNPIVOT UNSIGNED UNTIL UPD UPDATE UPDATETEXT
UPPER UPPERCASE USAGE USE USER USING UTC_DATE UTC_TIME UTC_TIMESTAMP VALIDATE VALIDPROC VALUE VALUES
VALUE_OF VARBINARY VARBYTE VARCHAR VARCHAR2 VARCHARACTER VARGRAPHIC VARIABLE VARIADIC VARIANT VARYING
VAR_POP VAR_SAMP VCAT VERBOSE VERSIONING VIEW VIRTUAL VOLATILE VOLUMES WAIT WAITFOR WHEN WHENEVER WHERE
WHILE WIDTH_BUCKET WINDOW WITH WITHIN WITHIN_GROUP WITHOUT WLM WORK WRITE WRITETEXT XMLCAST XMLEXISTS
XMLNAMESPACES XOR YEAR YEARS YEAR_MONTH ZEROFILL ZEROIFNULL ZONE
"""
RESERVED_KEYWORDS = frozenset(_RESERVED.split())

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<quoted>"(?:[^"\\]|\\.)*")
      | (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<word>[A-Za-z0-9_]+)
      | (?P<symbol>!=|[=(),;])
    )""",
    re.VERBOSE | re.DOTALL,
)
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)


class QueryError(ValueError):
    """The text is not a Metrics Insights query of the documented grammar (or one this module reads)."""


@dataclass(frozen=True)
class Identifier:
    """A namespace, metric name or label key as written: its name (unescaped) and whether it is quoted."""

    name: str
    quoted: bool
    role: str  # "namespace", "metric" or "label"

    @property
    def reserved(self) -> bool:
        return self.name.upper() in RESERVED_KEYWORDS


@dataclass(frozen=True)
class Condition:
    label: Identifier
    operator: str  # "=" or "!="
    value: str


@dataclass(frozen=True)
class Query:
    function: str
    metric: Identifier
    namespace: Identifier
    schema: tuple[Identifier, ...] | None  # SCHEMA's label keys; None for `FROM namespace`
    where: tuple[Condition, ...] = ()
    group_by: tuple[Identifier, ...] = ()
    order_by: tuple[str, str] | None = None  # (FUNCTION, "ASC" | "DESC")
    limit: int | None = None

    @property
    def identifiers(self) -> tuple[Identifier, ...]:
        labels = (*(self.schema or ()), *(c.label for c in self.where), *self.group_by)
        return (self.metric, self.namespace, *labels)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    position, end = 0, len(text.rstrip())
    while position < end:
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            raise QueryError(f"unexpected character {text[position:].lstrip()[:1]!r} at {position}")
        out.append(_Token(match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    if out and out[-1].text == ";":  # AWS's alarm examples end their queries with one
        out.pop()
    return out


class _Reader:
    def __init__(self, text: str) -> None:
        self._tokens = _tokens(text)
        self._at = 0

    def done(self) -> bool:
        return self._at == len(self._tokens)

    def peek_keyword(self, *words: str) -> bool:
        ahead = self._tokens[self._at : self._at + len(words)]
        return len(ahead) == len(words) and all(
            t.kind == "word" and t.text.upper() == w for t, w in zip(ahead, words, strict=True)
        )

    def keyword(self, *words: str) -> None:
        if not self.peek_keyword(*words):
            raise QueryError(f"expected {' '.join(words)} {self.where()}")
        self._at += len(words)

    def symbol(self, symbol: str) -> bool:
        """Consume `symbol` if it comes next."""
        if self._at < len(self._tokens) and self._tokens[self._at].text == symbol:
            self._at += 1
            return True
        return False

    def expect(self, symbol: str) -> None:
        if not self.symbol(symbol):
            raise QueryError(f"expected {symbol!r} {self.where()}")

    def function(self) -> str:
        token = self._next("a function")
        if token.kind != "word" or token.text.upper() not in FUNCTIONS:
            raise QueryError(f"{token.text!r} is not one of {', '.join(sorted(FUNCTIONS))}")
        return token.text.upper()

    def identifier(self, role: str) -> Identifier:
        token = self._next(f"a {role}")
        if token.kind == "quoted":
            return Identifier(_UNESCAPE.sub(r"\1", token.text[1:-1]), True, role)
        if token.kind == "word":
            return Identifier(token.text, False, role)
        raise QueryError(f"expected a {role}, found {token.text!r}")

    def value(self) -> str:
        token = self._next("a label value")
        if token.kind != "string":
            raise QueryError(f"a label value must be single-quoted, found {token.text!r}")
        return _UNESCAPE.sub(r"\1", token.text[1:-1])

    def operator(self) -> str:
        token = self._next("an operator")
        if token.text not in ("=", "!="):
            raise QueryError(f"{token.text!r} is not an operator this check reads (= or !=)")
        return token.text

    def number(self) -> int:
        token = self._next("a number")
        if token.kind != "word" or not token.text.isdigit():
            raise QueryError(f"LIMIT takes a number, found {token.text!r}")
        return int(token.text)

    def _next(self, what: str) -> _Token:
        if self.done():
            raise QueryError(f"expected {what} at the end of the query")
        self._at += 1
        return self._tokens[self._at - 1]

    def where(self) -> str:
        return f"before {self._tokens[self._at].text!r}" if not self.done() else "at the end of the query"


def _list(reader: _Reader, role: str) -> tuple[Identifier, ...]:
    items = [reader.identifier(role)]
    while reader.symbol(","):
        items.append(reader.identifier(role))
    return tuple(items)


def _source(reader: _Reader) -> tuple[Identifier, tuple[Identifier, ...] | None]:
    if not reader.peek_keyword("SCHEMA"):  # a namespace named SCHEMA is reserved: it would be quoted
        return reader.identifier("namespace"), None
    reader.keyword("SCHEMA")
    reader.expect("(")
    namespace = reader.identifier("namespace")
    labels = _list(reader, "label") if reader.symbol(",") else ()
    reader.expect(")")
    return namespace, labels


def _conditions(reader: _Reader) -> tuple[Condition, ...]:
    conditions = [Condition(reader.identifier("label"), reader.operator(), reader.value())]
    while reader.peek_keyword("AND"):
        reader.keyword("AND")
        conditions.append(Condition(reader.identifier("label"), reader.operator(), reader.value()))
    return tuple(conditions)


def _order(reader: _Reader) -> tuple[str, str]:
    function = reader.function()
    reader.expect("(")
    reader.expect(")")
    for direction in ("ASC", "DESC"):
        if reader.peek_keyword(direction):
            reader.keyword(direction)
            return function, direction
    return function, "ASC"  # the documented default


def parse(text: str) -> Query:
    """The query `text` as written; raises QueryError when it does not follow the grammar above."""
    reader = _Reader(text)
    reader.keyword("SELECT")
    function = reader.function()
    reader.expect("(")
    metric = reader.identifier("metric")
    reader.expect(")")
    reader.keyword("FROM")
    namespace, schema = _source(reader)
    where = _conditions(reader) if _clause(reader, "WHERE") else ()
    group_by = _list(reader, "label") if _clause(reader, "GROUP", "BY") else ()
    order_by = _order(reader) if _clause(reader, "ORDER", "BY") else None
    limit = reader.number() if _clause(reader, "LIMIT") else None
    if not reader.done():
        raise QueryError(f"unexpected text {reader.where()}")
    return Query(function, metric, namespace, schema, where, group_by, order_by, limit)


def _clause(reader: _Reader, *words: str) -> bool:
    if reader.peek_keyword(*words):
        reader.keyword(*words)
        return True
    return False


def problems(query: Query, *, quote_all: bool = False) -> list[str]:
    """What CloudWatch would reject, or read otherwise than meant, in a parsed query.

    `quote_all`: also require every identifier to be double-quoted (valid whatever the name; the
    template's rule, because a parameter substituted into a query may be a reserved word).
    """
    found = [
        f"{i.role} {i.name!r} is a reserved keyword in Metrics Insights and must be double-quoted "
        f"({RESERVED_KEYWORDS_URL})"
        for i in query.identifiers
        if i.reserved and not i.quoted
    ]
    if quote_all:
        found += [
            f"{i.role} {i.name!r} is not double-quoted"
            for i in query.identifiers
            if not i.quoted and not i.reserved  # a reserved one is reported above
        ]
    if query.schema is not None:  # SCHEMA matches exactly its label set: other labels match nothing
        declared = {label.name for label in query.schema}
        used = [c.label for c in query.where] + list(query.group_by)
        found += [f"label {i.name!r} is not in SCHEMA(...)" for i in used if i.name not in declared]
    if query.limit is not None and not 1 <= query.limit <= MAX_LIMIT:
        found.append(f"LIMIT {query.limit} is outside 1-{MAX_LIMIT}")
    return list(dict.fromkeys(found))  # a label named in SCHEMA, WHERE and GROUP BY is said once


def alarm_problems(query: Query) -> list[str]:
    """`problems` plus the alarm rules: a query with GROUP BY (one contributor per series) orders its
    series and keeps at most ALARM_CONTRIBUTOR_CEILING of them."""
    found = problems(query, quote_all=True)
    if query.group_by and (query.order_by is None or query.limit is None):
        found.append(
            "an alarm over GROUP BY needs ORDER BY ... LIMIT: with more series than the alarm evaluates, "
            f"which ones it keeps is otherwise unspecified ({MULTI_SERIES_ALARM_URL})"
        )
    if query.group_by and query.limit is not None and query.limit > ALARM_CONTRIBUTOR_CEILING:
        found.append(
            f"LIMIT {query.limit}: an alarm holds at most {ALARM_CONTRIBUTOR_CEILING} contributors in ALARM "
            f"({ALARM_LIMITS_URL})"
        )
    return found
