"""The real pyairtable (PyPI, 3.x) against the runner's Airtable-compatible /v0 surface.

Usage: python pyairtable_suite.py ENDPOINT_URL API_KEY BASE_ID

Drives pyairtable's public surface the way an application does — records (list, iterate, first, get,
create, update, replace, delete, batch create/update/upsert/delete), pagination, formulas built with
pyairtable.formulas, sort, fields, views, cellFormat=string with timeZone/userLocale, field ids, typecast,
comments, webhooks, schema, meta writes, the ORM, uploadAttachment, and the errors pyairtable surfaces —
and asserts what Airtable answers. Every check runs (a failure does not stop the others); the last line of
stdout is one JSON object: {"client", "version", "checks", "passed": [...], "failed": [{"check", "error"}]}.
Exits 1 when any check failed.

The suite starts from the emulator's demo base (infra/airtable-emulator/src/seed.rs): `Projects` has 30
records "Project 01".."Project 30" and the views "Grid view", "Active projects", "Done". Read-only checks run
first; every check that writes works on records it created (their names carry RUN) and deletes them.
"""

import base64
import datetime
import json
import sys
import time
import traceback
import urllib.parse
import uuid

import pyairtable
import requests
from pyairtable import Api
from pyairtable import formulas as fx
from pyairtable.formulas import AND, EQ, GT, GTE, LT, NOT, OR, Field, match
from pyairtable.orm import Model
from pyairtable.orm import fields as F

ENDPOINT, KEY, BASE_ID = sys.argv[1:4]
RUN = uuid.uuid4().hex[:8]
PROJECT_FIELDS = ["Name", "Status", "Priority", "Owner", "Due", "Active", "Tags", "Notes"]

api = Api(KEY, endpoint_url=ENDPOINT, timeout=(10, 60))
# Every response pyairtable receives, for checks that assert which HTTP call the client chose.
SEEN: list[tuple[str, str]] = []
api.session.hooks["response"].append(lambda r, *a, **k: SEEN.append((r.request.method, r.request.url)))
# pyairtable sends uploadAttachment to content.airtable.com (Table.urls.upload_attachment replaces the
# host of endpoint_url): route that host to the runner, as a deployment would with DNS or a proxy.
api.session.proxies = {"http://content.airtable.com": ENDPOINT, "https://content.airtable.com": ENDPOINT}

base = api.base(BASE_ID)
table = api.table(BASE_ID, "Projects")

CHECKS = []
# What the runner answered that only the caller can judge (printed in the summary): whoami's user id.
OBSERVED: dict = {}


def check(fn):
    CHECKS.append(fn)
    return fn


_seed_cache: list = []


def seed() -> list[dict]:
    """The 30 demo records, read once (page_size=100: a single page)."""
    if not _seed_cache:
        _seed_cache.extend(table.all(page_size=100))
    return _seed_cache


def ids(records) -> list[str]:
    return [r["id"] for r in records]


def seed_ids_where(predicate) -> set[str]:
    return {r["id"] for r in seed() if predicate(r["fields"])}


def expect_error(status: int, kind: str, call, *args, **kwargs) -> dict:
    """Runs a pyairtable call that must fail with Airtable's error: requests.HTTPError with the status, the
    body `{"error": {"type": kind, "message": …}}`, and pyairtable's rendering of that error in the exception."""
    try:
        result = call(*args, **kwargs)
    except requests.HTTPError as exc:
        response = exc.response
        assert response is not None, "HTTPError without a response"
        try:
            body = response.json()
        except ValueError:
            raise AssertionError(f"{status} expected with a JSON body; got {response.status_code} {response.text!r}")
        assert response.status_code == status, f"status {response.status_code} (expected {status}): {body}"
        error = body.get("error")
        assert isinstance(error, dict), f"error is not an object: {body}"
        assert error.get("type") == kind, f"error type {error.get('type')!r} (expected {kind!r}): {body}"
        assert isinstance(error.get("message"), str) and error["message"], f"no message: {body}"
        # pyairtable appends the error object to the exception's args (so it shows in tracebacks).
        assert repr(error) in exc.args, f"pyairtable did not surface the error: {exc.args}"
        return error
    raise AssertionError(f"expected HTTP {status} {kind}; the call returned {result!r:.300}")


def cleanup(t, record_ids):
    if record_ids:
        t.batch_delete(list(record_ids))


# ---------------------------------------------------------------- reads: listing and pagination


@check
def list_all_pages_of_ten():
    before = len(SEEN)
    records = table.all(page_size=10)
    assert len(records) == 30 and len(set(ids(records))) == 30, len(records)
    assert len(SEEN) - before == 3, f"{len(SEEN) - before} requests for 30 records at page_size=10"
    for r in records:
        assert r["id"].startswith("rec") and len(r["id"]) == 17, r
        assert set(r) == {"id", "createdTime", "fields"}, r
        assert r["createdTime"].endswith("Z"), r
        assert set(r["fields"]) <= set(PROJECT_FIELDS), r
    assert sorted(r["fields"]["Name"] for r in records) == [f"Project {i:02}" for i in range(1, 31)]
    assert {r["id"] for r in records} == {r["id"] for r in seed()}


@check
def iterate_pages():
    pages = list(table.iterate(page_size=7))
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2], [len(p) for p in pages]
    flat = [r["id"] for p in pages for r in p]
    assert len(set(flat)) == 30, "a record appeared on two pages"


@check
def iterate_max_records_across_pages():
    pages = list(table.iterate(page_size=5, max_records=12))
    assert [len(p) for p in pages] == [5, 5, 2], [len(p) for p in pages]
    assert len(table.all(max_records=3)) == 3
    assert len(table.all(max_records=100)) == 30


@check
def first_returns_one_record_or_none():
    first = table.first(sort=["Name"])
    assert first is not None and first["fields"]["Name"] == "Project 01", first
    assert table.first(formula=match({"Name": "No such project"})) is None
    before = len(SEEN)
    table.first()
    method, url = SEEN[before]
    assert "maxRecords=1" in url, url


@check
def get_returns_exactly_the_record_asked_for():
    one, two, three = seed()[0], seed()[1], seed()[17]
    for wanted in (one, two, three, one):
        got = table.get(wanted["id"])
        assert got == wanted, f"get({wanted['id']}) answered {got}"
    missing = "rec" + "Z" * 14
    expect_error(404, "MODEL_ID_NOT_FOUND", table.get, missing)


@check
def get_by_table_id_and_with_field_ids():
    schema = table.schema()
    by_id = api.table(BASE_ID, schema.id)
    wanted = seed()[4]
    assert by_id.get(wanted["id"]) == wanted
    keyed = table.get(wanted["id"], use_field_ids=True)
    names = {f.id: f.name for f in schema.fields}
    assert all(k.startswith("fld") for k in keyed["fields"]), keyed
    assert {names[k]: v for k, v in keyed["fields"].items()} == wanted["fields"], keyed


@check
def fields_projection():
    records = table.all(fields=["Name", "Priority"])
    assert len(records) == 30
    for r in records:
        assert set(r["fields"]) == {"Name", "Priority"}, r
    schema = table.schema()
    by_field_id = table.all(fields=[schema.field("Name").id, schema.field("Priority").id], sort=[schema.field("Name").id])
    assert [r["fields"] for r in by_field_id] == sorted(
        ({"Name": r["fields"]["Name"], "Priority": r["fields"]["Priority"]} for r in seed()), key=lambda f: f["Name"]
    ), "fields and sort name fields by id too; the answer keys them by name"
    only_notes = table.all(fields=["Notes"])  # an empty field: records still come back, with no cells
    assert len(only_notes) == 30 and all(r["fields"] == {} for r in only_notes), only_notes[:2]


@check
def sort_by_several_fields():
    records = table.all(sort=["-Priority", "Name"])
    got = [(r["fields"]["Priority"], r["fields"]["Name"]) for r in records]
    assert got == sorted(got, key=lambda t: (-t[0], t[1])), got
    desc = [r["fields"]["Name"] for r in table.all(sort=["-Name"], max_records=3)]
    assert desc == ["Project 30", "Project 29", "Project 28"], desc


@check
def views_filter_and_order():
    active = table.all(view="Active projects")
    expected = seed_ids_where(lambda f: f.get("Active"))
    assert set(ids(active)) == expected and len(active) == 20, len(active)
    got = [(r["fields"]["Priority"], r["fields"]["Name"]) for r in active]
    assert got == sorted(got, key=lambda t: (-t[0], t[1])), f"not in the view's order: {got}"
    done = table.all(view="Done")
    assert [r["fields"]["Name"] for r in done] == sorted(
        r["fields"]["Name"] for r in seed() if r["fields"]["Status"] == "Done"
    )
    view_id = table.schema().view("Done").id
    assert ids(table.all(view=view_id)) == ids(done)
    # sort overrides the view's order; the view still filters
    reversed_done = table.all(view="Done", sort=["-Name"])
    assert ids(reversed_done) == ids(done)[::-1]
    assert ids(table.all(view="Done", formula=match({"Priority": ("<=", 2)}))) == [
        r["id"] for r in done if r["fields"]["Priority"] <= 2
    ]


@check
def cell_format_string_with_time_zone_and_locale():
    records = table.all(cell_format="string", time_zone="America/Chicago", user_locale="en-us", sort=["Name"])
    by_name = {r["fields"]["Name"]: r for r in records}
    assert len(by_name) == 30
    for raw in seed():
        text = by_name[raw["fields"]["Name"]]["fields"]
        f = raw["fields"]
        assert all(isinstance(v, str) for v in text.values()), text
        assert text["Priority"] == str(f["Priority"]), text
        assert text["Status"] == f["Status"] and text["Owner"] == f["Owner"], text
        assert text["Due"] == f["Due"], f"Due is an ISO-formatted date field: {text}"
        assert text["Tags"] == ", ".join(f["Tags"]), text
        if f.get("Active"):
            # Airtable's user-facing text for a checked box; unchecked boxes are left out, as in json
            assert isinstance(text["Active"], str) and text["Active"], text
    # Airtable requires both timeZone and userLocale with cellFormat=string
    expect_error(422, "INVALID_REQUEST_UNKNOWN", table.all, cell_format="string")


@check
def return_fields_by_field_id():
    schema = table.schema()
    names = {f.id: f.name for f in schema.fields}
    records = table.all(use_field_ids=True, sort=["Name"])
    assert len(records) == 30
    for r in records:
        assert all(k in names for k in r["fields"]), r
    plain = {r["id"]: r["fields"] for r in seed()}
    for r in records:
        assert {names[k]: v for k, v in r["fields"].items()} == plain[r["id"]], r
    # use_field_ids on the Api applies to every call
    keyed_api = Api(KEY, endpoint_url=ENDPOINT, use_field_ids=True)
    first = keyed_api.table(BASE_ID, "Projects").first(sort=["Name"])
    assert first is not None and set(first["fields"]) <= set(names), first


# ---------------------------------------------------------------- formulas (pyairtable.formulas)


def assert_formula(formula, expected: set[str], **options):
    got = table.all(formula=formula, **options)
    assert set(ids(got)) == expected and len(got) == len(expected), (
        f"{formula}: {len(got)} records, expected {len(expected)}; "
        f"extra {sorted(set(ids(got)) - expected)[:5]}, missing {sorted(expected - set(ids(got)))[:5]}"
    )


@check
def formula_match_and_comparisons():
    assert_formula(match({"Status": "Done"}), seed_ids_where(lambda f: f["Status"] == "Done"))
    assert_formula(
        match({"Status": "Todo", "Priority": (">=", 3)}),
        seed_ids_where(lambda f: f["Status"] == "Todo" and f["Priority"] >= 3),
    )
    assert_formula(
        match({"Status": "Done", "Priority": 5}, match_any=True),
        seed_ids_where(lambda f: f["Status"] == "Done" or f["Priority"] == 5),
    )
    assert_formula(match({"Active": True}), seed_ids_where(lambda f: f.get("Active", False)))
    assert_formula(match({"Active": False}), seed_ids_where(lambda f: not f.get("Active", False)))
    assert_formula(Field("Priority").ne(3), seed_ids_where(lambda f: f["Priority"] != 3))
    assert_formula(LT(Field("Priority"), 2), seed_ids_where(lambda f: f["Priority"] < 2))


@check
def formula_and_or_not():
    assert_formula(
        AND(GTE(Field("Priority"), 2), OR(EQ(Field("Status"), "Todo"), EQ(Field("Status"), "Done"))),
        seed_ids_where(lambda f: f["Priority"] >= 2 and f["Status"] in ("Todo", "Done")),
    )
    assert_formula(NOT(match({"Status": "Done"})), seed_ids_where(lambda f: f["Status"] != "Done"))
    assert_formula(
        (Field("Priority").gt(3) | Field("Status").eq("Done")) & ~Field("Owner").eq("ada@example.com"),
        seed_ids_where(lambda f: (f["Priority"] > 3 or f["Status"] == "Done") and f["Owner"] != "ada@example.com"),
    )
    assert_formula(
        AND(Status="In progress", Owner="grace@example.com"),
        seed_ids_where(lambda f: f["Status"] == "In progress" and f["Owner"] == "grace@example.com"),
    )


@check
def formula_dates():
    june, sept = datetime.date(2024, 6, 1), datetime.date(2024, 9, 1)
    assert_formula(
        AND(Field("Due").gte(june), Field("Due").lt(sept)),
        seed_ids_where(lambda f: "2024-06-01" <= f["Due"] < "2024-09-01"),
    )
    assert_formula(
        fx.IS_AFTER(Field("Due"), datetime.date(2024, 10, 15)), seed_ids_where(lambda f: f["Due"] > "2024-10-15")
    )
    assert_formula(
        fx.IS_BEFORE(Field("Due"), datetime.date(2024, 3, 1)), seed_ids_where(lambda f: f["Due"] < "2024-03-01")
    )
    assert_formula(EQ(fx.MONTH(Field("Due")), 3), seed_ids_where(lambda f: f["Due"][5:7] == "03"))
    assert_formula(
        EQ(fx.DATETIME_FORMAT(Field("Due"), "YYYY-MM"), "2024-07"), seed_ids_where(lambda f: f["Due"][:7] == "2024-07")
    )
    assert_formula(EQ(fx.YEAR(Field("Due")), 2024), {r["id"] for r in seed()})
    assert_formula(GT(fx.DAY(Field("Due")), 20), seed_ids_where(lambda f: int(f["Due"][8:]) > 20))


@check
def formula_text_and_number_functions():
    assert_formula(EQ(fx.UPPER(Field("Owner")), "ADA@EXAMPLE.COM"), seed_ids_where(lambda f: f["Owner"] == "ada@example.com"))
    assert_formula(fx.FIND("urgent", Field("Tags")), seed_ids_where(lambda f: "urgent" in f["Tags"]))
    assert_formula(fx.REGEX_MATCH(Field("Name"), "0[1-5]$"), seed_ids_where(lambda f: f["Name"][-2:] in {"01", "02", "03", "04", "05"}))
    assert_formula(EQ(fx.LEN(Field("Name")), 10), {r["id"] for r in seed()})
    assert_formula(EQ(fx.MOD(Field("Priority"), 2), 0), seed_ids_where(lambda f: f["Priority"] % 2 == 0))
    assert_formula(EQ(fx.RIGHT(Field("Name"), 2), "17"), seed_ids_where(lambda f: f["Name"] == "Project 17"))
    assert_formula(
        EQ(fx.IF(Field("Active"), "yes", "no"), "no"), seed_ids_where(lambda f: not f.get("Active", False))
    )
    wanted = seed()[9]["id"]
    assert_formula(EQ(fx.RECORD_ID(), wanted), {wanted})


@check
def invalid_formula_and_unknown_names_are_422():
    expect_error(422, "INVALID_FILTER_BY_FORMULA", table.all, formula="AND({Name}, ")
    expect_error(422, "INVALID_FILTER_BY_FORMULA", table.all, formula=match({"No such field": 1}))
    expect_error(422, "UNKNOWN_FIELD_NAME", table.all, fields=["No such field"])
    expect_error(422, "UNKNOWN_FIELD_NAME", table.all, sort=["No such field"])
    expect_error(422, "VIEW_NAME_NOT_FOUND", table.all, view="No such view")


@check
def long_formula_falls_back_to_post_list_records():
    wanted = ids(seed())[:7]
    # ~11,000 characters: under any formula-length bound, but over 16,000 once URL-encoded, so pyairtable
    # moves the request to POST …/listRecords (Api.MAX_URL_LENGTH)
    clauses = [EQ(fx.RECORD_ID(), rid) for rid in wanted]
    while len(urllib.parse.urlencode({"filterByFormula": str(OR(*clauses))})) < 16_500:
        clauses.append(EQ(Field("Name"), f"No such {len(clauses):03}"))
    formula = OR(*clauses)
    assert len(str(formula)) < 12_000, len(str(formula))
    before = len(SEEN)
    records = table.all(
        formula=formula, sort=["-Name"], fields=["Name", "Priority"], cell_format="string",
        time_zone="Europe/Paris", user_locale="fr", page_size=3,
    )
    posted = [(m, u) for m, u in SEEN[before:] if m == "POST"]
    assert posted and all("/listRecords" in u for _, u in posted), SEEN[before:]
    # timeZone and userLocale stay in the query string of the POST (pyairtable: OPTIONS_NOT_SUPPORTED_VIA_POST)
    assert all("timeZone=Europe%2FParis" in u and "userLocale=fr" in u for _, u in posted), posted
    assert len(posted) == 3, f"7 records at pageSize 3 take 3 POSTs; saw {len(posted)}"
    names = sorted((r["fields"]["Name"] for r in seed() if r["id"] in wanted), reverse=True)
    assert [r["fields"]["Name"] for r in records] == names, records
    assert all(set(r["fields"]) == {"Name", "Priority"} and isinstance(r["fields"]["Priority"], str) for r in records)


# ---------------------------------------------------------------- bases, schema


@check
def bases_whoami_and_base_metadata():
    bases = {b.id: b for b in api.bases(force=True)}
    assert BASE_ID in bases, list(bases)
    assert bases[BASE_ID].name == "Demo", bases[BASE_ID]
    me = api.whoami()
    assert isinstance(me.get("id"), str) and me["id"], me
    OBSERVED["whoami"] = me["id"]
    assert {t.name for t in base.tables(force=True)} >= {"Projects", "Tasks"}


@check
def schema_of_base_and_table():
    schema = base.schema(force=True)
    projects = schema.table("Projects")
    assert projects.id.startswith("tbl") and schema.table(projects.id).name == "Projects"
    assert [f.name for f in projects.fields][: len(PROJECT_FIELDS)] == PROJECT_FIELDS, [f.name for f in projects.fields]
    assert projects.primary_field_id == projects.field("Name").id
    assert projects.field("Status").type == "singleSelect"
    assert {c.name for c in projects.field("Status").options.choices} >= {"Todo", "In progress", "Done"}
    assert projects.field("Priority").type == "number" and projects.field("Due").type == "date"
    assert projects.field("Tags").type == "multipleSelects" and projects.field("Active").type == "checkbox"
    assert [v.name for v in projects.views] == ["Grid view", "Active projects", "Done"]
    assert table.schema().id == projects.id
    assert table.schema(force=True).field("Owner").type == "email"
    tasks = schema.table("Tasks")
    assert [f.name for f in tasks.fields][:4] == ["Title", "Project", "Done", "Estimate"], tasks.fields


# ---------------------------------------------------------------- record writes


@check
def create_get_update_replace_delete():
    made = []
    try:
        created = table.create({"Name": f"Single {RUN}", "Priority": 1, "Tags": ["client"], "Due": "2025-02-03"})
        made.append(created["id"])
        assert created["id"].startswith("rec") and created["createdTime"].endswith("Z"), created
        assert created["fields"] == {"Name": f"Single {RUN}", "Priority": 1, "Tags": ["client"], "Due": "2025-02-03"}
        assert table.get(created["id"]) == created

        updated = table.update(created["id"], {"Priority": 4, "Active": True})
        assert updated["fields"] == {**created["fields"], "Priority": 4, "Active": True}, updated
        assert table.get(created["id"])["fields"]["Priority"] == 4

        replaced = table.update(created["id"], {"Name": f"Replaced {RUN}"}, replace=True)
        assert replaced["fields"] == {"Name": f"Replaced {RUN}"}, replaced
        assert table.get(created["id"]) == replaced

        cleared = table.update(created["id"], {"Notes": "x"})
        assert table.update(created["id"], {"Notes": None})["fields"] == {"Name": f"Replaced {RUN}"}, cleared

        keyed = table.create({"Name": f"Keyed {RUN}", "Priority": 2}, use_field_ids=True)
        made.append(keyed["id"])
        name_id = table.schema().field("Name").id
        assert keyed["fields"][name_id] == f"Keyed {RUN}" and "Name" not in keyed["fields"], keyed

        deleted = table.delete(created["id"])
        made.remove(created["id"])
        assert deleted == {"id": created["id"], "deleted": True}, deleted
        expect_error(404, "MODEL_ID_NOT_FOUND", table.get, created["id"])
        expect_error(404, "MODEL_ID_NOT_FOUND", table.update, created["id"], {"Priority": 1})
        expect_error(404, "MODEL_ID_NOT_FOUND", table.delete, created["id"])
        assert len(table.all()) == 31  # the seed and `keyed`
    finally:
        cleanup(table, made)


@check
def reads_after_writes_are_fresh():
    marker = f"fresh {RUN}"
    query = dict(formula=match({"Notes": marker}), fields=["Name", "Notes"], sort=["Name"])
    assert table.all(**query) == []  # now cached, if the runner caches
    record = table.create({"Name": f"Fresh {RUN}", "Notes": marker})
    try:
        assert ids(table.all(**query)) == [record["id"]], "a cached list hid a created record"
        assert table.get(record["id"])["fields"]["Notes"] == marker
        table.update(record["id"], {"Notes": "moved on"})
        assert table.all(**query) == [], "a cached list kept an updated record"
        assert table.get(record["id"])["fields"]["Notes"] == "moved on", "a cached get answered the old record"
        table.batch_update([{"id": record["id"], "fields": {"Notes": marker}}])
        assert ids(table.all(**query)) == [record["id"]]
        text = table.get(record["id"], cell_format="string", time_zone="UTC", user_locale="en-gb")
        assert text["fields"] == {"Name": f"Fresh {RUN}", "Notes": marker}, text
    finally:
        table.delete(record["id"])
    assert table.all(**query) == [], "a cached list kept a deleted record"
    expect_error(404, "MODEL_ID_NOT_FOUND", table.get, record["id"])


@check
def typecast_converts_and_adds_select_options():
    made = []
    try:
        expect_error(422, "INVALID_MULTIPLE_CHOICE_OPTIONS", table.create, {"Name": f"T {RUN}", "Status": f"New {RUN}"})
        expect_error(422, "INVALID_VALUE_FOR_COLUMN", table.create, {"Name": f"T {RUN}", "Priority": "8"})
        assert f"New {RUN}" not in {c.name for c in table.schema(force=True).field("Status").options.choices}
        created = table.create(
            {"Name": f"T {RUN}", "Priority": "8", "Status": f"New {RUN}", "Tags": ["internal", f"Tag {RUN}"]},
            typecast=True,
        )
        made.append(created["id"])
        assert created["fields"]["Priority"] == 8 and type(created["fields"]["Priority"]) is int, created
        assert created["fields"]["Status"] == f"New {RUN}", created
        assert table.get(created["id"])["fields"]["Priority"] == 8
        assert type(table.get(created["id"])["fields"]["Priority"]) is int
        # the new options are in the schema at once (the write invalidates the cached schema)
        schema = table.schema(force=True)
        assert f"New {RUN}" in {c.name for c in schema.field("Status").options.choices}
        assert f"Tag {RUN}" in {c.name for c in schema.field("Tags").options.choices}
        updated = table.update(created["id"], {"Priority": "3"}, typecast=True)
        assert updated["fields"]["Priority"] == 3 and type(updated["fields"]["Priority"]) is int, updated
    finally:
        cleanup(table, made)


@check
def formula_quoting_survives_quotes_and_backslashes():
    names = [f"Jane's {RUN}", f'Say "hi" {RUN}', f"Back\\slash {RUN}", f"Both '\" {RUN}"]
    made = table.batch_create([{"Name": n} for n in names])
    try:
        for record in made:
            found = table.all(formula=match({"Name": record["fields"]["Name"]}))
            assert ids(found) == [record["id"]], (record["fields"]["Name"], found)
    finally:
        cleanup(table, ids(made))


@check
def batch_create_update_upsert_delete():
    made: list[str] = []
    try:
        before = len(SEEN)
        batch = table.batch_create([{"Name": f"B{i:02} {RUN}", "Priority": i % 5 + 1} for i in range(25)])
        made.extend(ids(batch))
        assert len(SEEN) - before == 3, "pyairtable sends 10 records per request"
        assert len(batch) == 25 and len(set(made)) == 25
        assert [r["fields"]["Name"] for r in batch] == [f"B{i:02} {RUN}" for i in range(25)], "order is kept"
        mine = fx.FIND(RUN, Field("Name"))
        assert set(ids(table.all(formula=mine))) == set(made)

        patched = table.batch_update([{"id": rid, "fields": {"Notes": f"n{i}"}} for i, rid in enumerate(made[:12])])
        assert ids(patched) == made[:12]
        assert all(r["fields"]["Name"].startswith("B") and r["fields"]["Notes"] == f"n{i}" for i, r in enumerate(patched))

        replaced = table.batch_update([{"id": rid, "fields": {"Name": f"R{i} {RUN}"}} for i, rid in enumerate(made[:3])], replace=True)
        assert [r["fields"] for r in replaced] == [{"Name": f"R{i} {RUN}"} for i in range(3)], replaced
        assert table.get(made[0])["fields"] == {"Name": f"R0 {RUN}"}

        upsert = table.batch_upsert(
            [
                {"fields": {"Name": f"B05 {RUN}", "Priority": 5, "Status": "Done"}},
                {"fields": {"Name": f"B06 {RUN}", "Notes": "upserted"}},
                {"fields": {"Name": f"New {RUN}", "Priority": 2}},
            ],
            key_fields=["Name"],
        )
        assert upsert["updatedRecords"] == [made[5], made[6]], upsert
        assert len(upsert["createdRecords"]) == 1, upsert
        made.extend(upsert["createdRecords"])
        assert [r["id"] for r in upsert["records"]] == [made[5], made[6], upsert["createdRecords"][0]], upsert
        assert upsert["records"][0]["fields"]["Status"] == "Done" and upsert["records"][0]["fields"]["Notes"] == "n5"
        six = table.get(made[6])["fields"]
        assert six == {"Name": f"B06 {RUN}", "Priority": 2, "Notes": "upserted"}, six

        replaced_upsert = table.batch_upsert([{"fields": {"Name": f"B07 {RUN}", "Status": "Todo"}}], key_fields=["Name"], replace=True)
        assert replaced_upsert["updatedRecords"] == [made[7]], replaced_upsert
        assert table.get(made[7])["fields"] == {"Name": f"B07 {RUN}", "Status": "Todo"}

        before = len(SEEN)
        deleted = table.batch_delete(made)
        assert len(SEEN) - before == 3, "26 deletes take 3 requests"
        assert [d["id"] for d in deleted] == made and all(d["deleted"] is True for d in deleted), deleted
        made.clear()
        assert table.all(formula=mine) == []
        assert len(table.all()) == 30
    finally:
        cleanup(table, made)


@check
def write_errors_are_airtable_errors():
    error = expect_error(422, "UNKNOWN_FIELD_NAME", table.create, {"Name": f"E {RUN}", "No such field": 1})
    assert "No such field" in error["message"], error
    expect_error(422, "UNKNOWN_FIELD_NAME", table.batch_create, [{"Name": f"E {RUN}"}, {"Bogus": 1}])
    expect_error(422, "INVALID_VALUE_FOR_COLUMN", table.create, {"Name": f"E {RUN}", "Active": "yes"})
    expect_error(404, "MODEL_ID_NOT_FOUND", table.batch_update, [{"id": "rec" + "Y" * 14, "fields": {"Priority": 1}}])
    expect_error(404, "MODEL_ID_NOT_FOUND", table.batch_delete, ["rec" + "Y" * 14])
    expect_error(404, "TABLE_NOT_FOUND", api.table(BASE_ID, "No such table").all)
    expect_error(404, "TABLE_NOT_FOUND", api.table(BASE_ID, "No such table").create, {"Name": "x"})
    expect_error(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", api.table("app" + "Q" * 14, "Projects").all)
    assert table.all(formula=fx.FIND(f"E {RUN}", Field("Name"))) == [], "a refused write left a record"


@check
def bad_or_missing_token_is_401():
    bad = Api("not-a-real-token", endpoint_url=ENDPOINT, retry_strategy=None)
    expect_error(401, "AUTHENTICATION_REQUIRED", bad.table(BASE_ID, "Projects").all)
    expect_error(401, "AUTHENTICATION_REQUIRED", bad.table(BASE_ID, "Projects").create, {"Name": "x"})
    expect_error(401, "AUTHENTICATION_REQUIRED", bad.whoami)
    expect_error(401, "AUTHENTICATION_REQUIRED", bad.base(BASE_ID).schema)
    none = Api("", endpoint_url=ENDPOINT, retry_strategy=None)
    expect_error(401, "AUTHENTICATION_REQUIRED", none.table(BASE_ID, "Projects").get, seed()[0]["id"])


# ---------------------------------------------------------------- comments


@check
def comments_list_add_edit_reply_delete():
    record = table.create({"Name": f"Commented {RUN}"})
    try:
        assert table.comments(record["id"]) == []
        first = table.add_comment(record["id"], f"Hello {RUN}")
        assert first.id.startswith("com") and first.text == f"Hello {RUN}", first
        assert first.author.id.startswith("usr") and first.created_time is not None, first
        assert first.last_updated_time is None, first
        reply = table.add_comment(record["id"], "A reply", parent_comment_id=first.id)
        assert reply.parent_comment_id == first.id, reply

        listed = {c.id: c for c in table.comments(record["id"])}
        assert set(listed) == {first.id, reply.id}, listed
        assert listed[first.id].text == f"Hello {RUN}" and listed[reply.id].parent_comment_id == first.id

        counted = table.all(formula=EQ(fx.RECORD_ID(), record["id"]), count_comments=True)
        assert counted[0].get("commentCount") == 2, counted
        others = table.all(formula=EQ(fx.RECORD_ID(), record["id"]))
        assert "commentCount" not in others[0], others

        first.text = f"Edited {RUN}"
        first.save()
        assert first.text == f"Edited {RUN}" and first.last_updated_time is not None, first
        assert {c.id: c.text for c in table.comments(record["id"])}[first.id] == f"Edited {RUN}"

        reply.delete()
        assert reply.deleted
        assert [c.id for c in table.comments(record["id"])] == [first.id]
        first.delete()
        assert table.comments(record["id"]) == []
        expect_error(404, "MODEL_ID_NOT_FOUND", table.add_comment, "rec" + "X" * 14, "nobody home")
    finally:
        cleanup(table, [record["id"]])


# ---------------------------------------------------------------- webhooks


@check
def webhooks_create_list_payloads_refresh_delete():
    projects_id = table.schema().id
    spec = {"options": {"filters": {"dataTypes": ["tableData"], "recordChangeScope": projects_id}}}
    created = base.add_webhook("https://example.com/hooks/" + RUN, spec)
    hook_ids = [created.id]
    made = []
    try:
        assert created.id.startswith("ach") and base64.b64decode(created.mac_secret_base64), created
        now = datetime.datetime.now(datetime.timezone.utc)
        assert created.expiration_time is not None, created
        # Airtable: a webhook lives 7 days unless refreshed
        assert now + datetime.timedelta(days=6) < created.expiration_time < now + datetime.timedelta(days=8), created
        listed = {h.id: h for h in base.webhooks()}
        assert created.id in listed, listed
        hook = listed[created.id]
        assert hook.notification_url == "https://example.com/hooks/" + RUN, hook
        assert hook.is_hook_enabled and hook.cursor_for_next_payload == 1, hook
        assert hook.specification.options.filters.data_types == ["tableData"], hook.specification
        assert base.webhook(created.id).id == created.id

        record = table.create({"Name": f"Hooked {RUN}", "Priority": 3})
        made.append(record["id"])
        table.update(record["id"], {"Priority": 4})
        payloads = list(hook.payloads())
        assert payloads, "no payload after a record was created and updated"
        assert [p.cursor for p in payloads] == list(range(1, len(payloads) + 1)), payloads
        created_in = [p for p in payloads if record["id"] in p.changed_tables_by_id.get(projects_id, _EMPTY).created_records_by_id]
        changed_in = [p for p in payloads if record["id"] in p.changed_tables_by_id.get(projects_id, _EMPTY).changed_records_by_id]
        assert created_in and changed_in, [p.model_dump() for p in payloads]
        name_id, priority_id = table.schema().field("Name").id, table.schema().field("Priority").id
        made_cells = created_in[0].changed_tables_by_id[projects_id].created_records_by_id[record["id"]]
        assert made_cells.cell_values_by_field_id.get(name_id) == f"Hooked {RUN}", made_cells
        changed = changed_in[-1].changed_tables_by_id[projects_id].changed_records_by_id[record["id"]]
        assert changed.current.cell_values_by_field_id.get(priority_id) == 4, changed
        assert all(p.payload_format == "v0" and p.base_transaction_number > 0 for p in payloads)
        assert base.webhook(created.id).cursor_for_next_payload == len(payloads) + 1
        assert list(hook.payloads(cursor=len(payloads) + 1)) == []
        assert len(list(hook.payloads(limit=1))) == 1

        hook.disable_notifications()
        assert not base.webhook(created.id).are_notifications_enabled
        hook.enable_notifications()
        assert base.webhook(created.id).are_notifications_enabled
        old_expiry = base.webhook(created.id).expiration_time
        hook.extend_expiration()  # keeps Airtable's `expirationTime` string as it came
        refreshed = datetime.datetime.fromisoformat(str(hook.expiration_time).replace("Z", "+00:00"))
        assert refreshed >= old_expiry, (hook.expiration_time, old_expiry)
        assert base.webhook(created.id).expiration_time == refreshed

        hook.delete()
        hook_ids.remove(created.id)
        assert created.id not in {h.id for h in base.webhooks()}
    finally:
        cleanup(table, made)
        for hook_id in hook_ids:
            base.webhook(hook_id).delete()


class _Empty:
    created_records_by_id: dict = {}
    changed_records_by_id: dict = {}


_EMPTY = _Empty()


# ---------------------------------------------------------------- meta writes and attachments


@check
def meta_create_table_and_fields_rename_describe():
    name = f"Suite {RUN}"
    new = base.create_table(
        name,
        fields=[
            {"name": "Title", "type": "singleLineText"},
            {"name": "Count", "type": "number", "options": {"precision": 0}},
            {"name": "Stage", "type": "singleSelect", "options": {"choices": [{"name": "a"}, {"name": "b"}]}},
        ],
        description="made by the pyairtable suite",
    )
    schema = new.schema()
    assert schema.name == name and schema.description == "made by the pyairtable suite", schema
    assert [f.name for f in schema.fields] == ["Title", "Count", "Stage"], schema.fields
    assert schema.primary_field_id == schema.field("Title").id
    assert [c.name for c in schema.field("Stage").options.choices] == ["a", "b"]
    assert name in {t.name for t in base.tables(force=True)}

    record = new.create({"Title": "first", "Count": 2, "Stage": "b"})
    assert new.get(record["id"])["fields"] == {"Title": "first", "Count": 2, "Stage": "b"}

    extra = new.create_field("Extra", "singleLineText", description="first description")
    assert extra.id.startswith("fld") and extra.name == "Extra" and extra.description == "first description", extra
    assert new.update(record["id"], {"Extra": "x"})["fields"]["Extra"] == "x"
    expect_error(422, "DUPLICATE_OR_EMPTY_FIELD_NAME", new.create_field, "Extra", "singleLineText")

    extra.name = "Extra renamed"
    extra.description = "second description"
    extra.save()
    assert extra.name == "Extra renamed" and extra.description == "second description", extra
    fresh = base.schema(force=True).table(schema.id)
    assert fresh.field(extra.id).name == "Extra renamed", fresh.fields
    assert fresh.field(extra.id).description == "second description"
    assert new.get(record["id"])["fields"]["Extra renamed"] == "x"

    renamed = f"Suite {RUN} renamed"
    fresh.name = renamed
    fresh.description = "changed"
    fresh.save()
    after = base.schema(force=True).table(schema.id)
    assert after.name == renamed and after.description == "changed", after
    assert ids(api.table(BASE_ID, renamed).all()) == [record["id"]]
    expect_error(404, "TABLE_NOT_FOUND", api.table(BASE_ID, name).all)


@check
def upload_attachment():
    new = base.create_table(f"Files {RUN}", fields=[{"name": "Title", "type": "singleLineText"}])
    files = new.create_field("Files", "multipleAttachments")
    record = new.create({"Title": "with files"})
    before = len(SEEN)
    result = new.upload_attachment(record["id"], "Files", "hello.txt", content=b"hello world", content_type="text/plain")
    method, url = SEEN[before]
    assert method == "POST" and url.endswith(f"/v0/{BASE_ID}/{record['id']}/Files/uploadAttachment"), (method, url)
    assert result["id"] == record["id"] and result["createdTime"] == record["createdTime"], result
    attached = result["fields"][files.id]
    assert len(attached) == 1, result
    first = attached[0]
    assert first["id"].startswith("att") and first["filename"] == "hello.txt", first
    assert first["type"] == "text/plain" and first["size"] == 11 and first["url"].startswith("http"), first
    again = new.upload_attachment(record["id"], files.id, "second.bin", content=bytes(range(256)))
    assert [a["filename"] for a in again["fields"][files.id]] == ["hello.txt", "second.bin"], again
    assert again["fields"][files.id][1]["type"] == "application/octet-stream" and again["fields"][files.id][1]["size"] == 256
    read = new.get(record["id"])["fields"]["Files"]
    assert [a["id"] for a in read] == [a["id"] for a in again["fields"][files.id]], read
    expect_error(404, "MODEL_ID_NOT_FOUND", new.upload_attachment, "rec" + "W" * 14, "Files", "x.txt", content=b"x")


# ---------------------------------------------------------------- the ORM


class Project(Model):
    Meta = {"base_id": BASE_ID, "table_name": "Projects", "api_key": KEY, "timeout": (10, 60)}
    name = F.TextField("Name")
    status = F.SelectField("Status")
    priority = F.IntegerField("Priority")
    owner = F.EmailField("Owner")
    due = F.DateField("Due")
    active = F.CheckboxField("Active")
    tags = F.MultipleSelectField("Tags")
    notes = F.MultilineTextField("Notes")


# The ORM's Meta takes no endpoint: its Api is `Model.meta.api`, which an application points elsewhere.
Project.meta.api = Api(KEY, endpoint_url=ENDPOINT, timeout=(10, 60))


@check
def orm_read_create_update_delete():
    done = Project.all(formula=match({"Status": "Done"}))
    assert len(done) == 10 and all(p.status == "Done" and not p.active for p in done), done
    assert all(isinstance(p.due, datetime.date) and isinstance(p.priority, int) for p in done)
    first = Project.first(sort=["Name"])
    assert first is not None and first.name == "Project 01" and first.created_time is not None, first
    seeded = seed()[3]
    one = Project.from_id(seeded["id"])
    assert one.name == seeded["fields"]["Name"] and one.tags == seeded["fields"]["Tags"], one
    many = Project.from_ids([seed()[5]["id"], seed()[2]["id"]])
    assert [p.id for p in many] == [seed()[5]["id"], seed()[2]["id"]], many

    made = []
    try:
        p = Project(name=f"ORM {RUN}", priority=2, status="Todo", tags=["internal"], due=datetime.date(2025, 1, 2), active=True)
        result = p.save()
        made.append(p.id)
        assert result.created and p.id.startswith("rec") and p.exists(), result
        p.priority = 5
        p.status = f"ORM status {RUN}"  # Meta.typecast defaults to True: a new option is created
        result = p.save()
        assert result.updated and result.field_names == {"Priority", "Status"}, result
        again = Project.from_id(p.id)
        assert again.priority == 5 and again.status == f"ORM status {RUN}" and again.due == datetime.date(2025, 1, 2), again
        p.fetch()
        assert p.name == f"ORM {RUN}"

        batch = [Project(name=f"ORM batch {i} {RUN}", priority=i + 1) for i in range(3)]
        Project.batch_save(batch)
        made.extend(b.id for b in batch)
        assert all(b.id for b in batch)
        batch[0].notes = "edited"
        extra = Project(name=f"ORM batch 3 {RUN}")
        Project.batch_save([batch[0], extra])
        made.append(extra.id)
        assert Project.from_id(batch[0].id).notes == "edited"
        mine = Project.all(formula=fx.FIND(f"ORM batch", Field("Name")) & fx.FIND(RUN, Field("Name")))
        assert {m.id for m in mine} == {b.id for b in batch} | {extra.id}

        Project.batch_delete(batch + [extra])
        for gone in batch + [extra]:
            made.remove(gone.id)
        assert p.delete() is True
        made.remove(p.id)
        expect_error(404, "MODEL_ID_NOT_FOUND", Project.from_id, p.id)
    finally:
        cleanup(table, made)


# ---------------------------------------------------------------- last: a request that once crashed the runner


@check
def deeply_nested_formula_is_refused_and_the_server_survives():
    deep = "(" * 1600 + "1" + ")" * 1600
    expect_error(422, "INVALID_FILTER_BY_FORMULA", table.all, formula=deep)
    expect_error(422, "INVALID_FILTER_BY_FORMULA", table.all, formula="NOT(" * 3000 + "1" + ")" * 3000)
    expect_error(422, "INVALID_FILTER_BY_FORMULA", table.all, formula="-" * 20000 + "1")  # sent by POST
    assert len(table.all(max_records=2)) == 2, "the runner stopped answering"


# ---------------------------------------------------------------- run


def main() -> int:
    passed, failed, timings = [], [], {}
    for fn in CHECKS:
        started = time.monotonic()
        try:
            fn()
            passed.append(fn.__name__)
        except Exception as exc:  # noqa: BLE001 — a failed check is reported, and the others still run
            where = traceback.extract_tb(exc.__traceback__)
            line = next((f"line {f.lineno}" for f in reversed(where) if f.filename == __file__), "")
            failed.append({"check": fn.__name__, "error": f"{type(exc).__name__} ({line}): {exc}"[:2000]})
            print(f"FAILED {fn.__name__}:\n{traceback.format_exc()}", file=sys.stderr)
        timings[fn.__name__] = round(time.monotonic() - started, 2)
    print(
        json.dumps(
            {
                "client": "pyairtable",
                "version": pyairtable.__version__,
                "checks": len(CHECKS),
                "passed": passed,
                "failed": failed,
                "seconds": timings,
                "observed": OBSERVED,
            }
        )
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
