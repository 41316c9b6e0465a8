"""Real pyairtable (from PyPI) against the gateway's Airtable-compatible surface.

Usage: python pyairtable_session.py ENDPOINT_URL API_KEY BASE_ID
Drives the calls an application makes (list all pages, get, create, batch create 25, update, upsert,
a formula built with pyairtable's helpers, batch delete, schema, bases, whoami), asserts what Airtable
would answer, and prints one JSON line of what it saw. Any failure raises (non-zero exit).
"""

import json
import sys

from pyairtable import Api
from pyairtable.formulas import match

endpoint, key, base_id = sys.argv[1:4]
api = Api(key, endpoint_url=endpoint)
table = api.table(base_id, "Projects")

seen = table.all(page_size=10)
assert len(seen) == 30 and len({r["id"] for r in seen}) == 30, len(seen)
assert table.get(seen[0]["id"])["id"] == seen[0]["id"]

created = table.create({"Name": "From real pyairtable", "Priority": 1})
batch = table.batch_create([{"Name": f"Py {i:02}"} for i in range(25)])
assert len(batch) == 25

updated = table.update(created["id"], {"Priority": 4})
assert updated["fields"] == {"Name": "From real pyairtable", "Priority": 4}, updated
replaced = table.update(created["id"], {"Name": "Replaced"}, replace=True)
assert replaced["fields"] == {"Name": "Replaced"}, replaced

upsert = table.batch_upsert(
    [{"fields": {"Name": "Py 00", "Priority": 7}}, {"fields": {"Name": "Py new"}}],
    key_fields=["Name"],
)
assert upsert["updatedRecords"] == [batch[0]["id"]], upsert
assert len(upsert["createdRecords"]) == 1, upsert

# pyairtable escapes the quote: the formula matches the one record, and nothing else.
quoted = table.create({"Name": "Jane's project"})
found = table.all(formula=match({"Name": "Jane's project"}))
assert [r["id"] for r in found] == [quoted["id"]], found
assert table.first(formula=match({"Name": "Py 00"}))["fields"]["Priority"] == 7

doomed = [r["id"] for r in batch] + [created["id"], quoted["id"]] + upsert["createdRecords"]
deleted = table.batch_delete(doomed)
assert all(d["deleted"] for d in deleted) and len(deleted) == 28, deleted
assert len(table.all()) == 30

schema = table.schema()
assert schema.name == "Projects" and schema.field("Status").type == "singleSelect"
bases = [b.id for b in api.bases()]
assert base_id in bases, bases
me = api.whoami()

print(json.dumps({"listed": len(seen), "batch_created": len(batch), "deleted": len(deleted),
                  "table_id": schema.id, "bases": bases, "whoami": me["id"]}))
