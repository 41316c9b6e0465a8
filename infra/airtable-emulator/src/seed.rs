//! The demo data `cargo run` and the tests start from. Ids are fixed so examples and tests can name them.
//!
//! - base `appDemoBase000001` ("Demo"): `Projects` (30 records, enough for three pages of ten) and `Tasks` (with
//!   an empty `Attachments` field for `uploadAttachment`);
//! - base `appOpsBase0000001` ("Operations"): `Incidents`, a second base for per-base limits.

use serde_json::{Map, Value, json};

use crate::ids::fixed_id;
use crate::model::{Base, Field, FieldType, Record, Table, View};

pub const DEMO_BASE: &str = "appDemoBase000001";
pub const PROJECTS: &str = "tblProjects000001";
pub const TASKS: &str = "tblTasks000000001";
/// The `Attachments` field of `Tasks` (multiple attachments).
pub const TASK_ATTACHMENTS: &str = "fldTasAttac000001";
pub const OPS_BASE: &str = "appOpsBase0000001";
pub const INCIDENTS: &str = "tblIncidents00001";

const SEEDED_AT: &str = "2024-01-15T09:30:00.000Z";

fn field(table: &str, name: &str, kind: FieldType, choices: &[&str]) -> Field {
    let short: String =
        format!("{}{}", &table[3..6], name).chars().filter(char::is_ascii_alphanumeric).take(8).collect();
    Field {
        id: fixed_id("fld", &short, 1),
        name: name.into(),
        kind,
        choices: choices.iter().map(|c| c.to_string()).collect(),
    }
}

fn view(table: &str, n: usize, name: &str, filter: Option<&str>, sort: &[(&str, bool)]) -> View {
    View {
        id: fixed_id("viw", &table[3..8], n),
        name: name.into(),
        filter: filter.map(String::from),
        sort: sort.iter().map(|(f, d)| (f.to_string(), *d)).collect(),
    }
}

/// Records from rows of cells by field name.
fn records(prefix: &str, fields: &[Field], rows: Vec<Value>) -> Vec<Record> {
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| {
            let mut cells = Map::new();
            for (name, value) in row.as_object().into_iter().flatten() {
                if let Some(f) = fields.iter().find(|f| f.name == *name) {
                    cells.insert(f.id.clone(), value.clone());
                }
            }
            Record { id: fixed_id("rec", prefix, i + 1), created_time: SEEDED_AT.into(), cells }
        })
        .collect()
}

fn projects() -> Table {
    let statuses = ["Todo", "In progress", "Done"];
    let fields = vec![
        field(PROJECTS, "Name", FieldType::SingleLineText, &[]),
        field(PROJECTS, "Status", FieldType::SingleSelect, &statuses),
        field(PROJECTS, "Priority", FieldType::Number, &[]),
        field(PROJECTS, "Owner", FieldType::Email, &[]),
        field(PROJECTS, "Due", FieldType::Date, &[]),
        field(PROJECTS, "Active", FieldType::Checkbox, &[]),
        field(PROJECTS, "Tags", FieldType::MultipleSelects, &["internal", "client", "urgent"]),
        field(PROJECTS, "Notes", FieldType::MultilineText, &[]),
    ];
    let owners = ["ada@example.com", "grace@example.com", "linus@example.com"];
    let rows = (1..=30)
        .map(|i: usize| {
            let status = statuses[i % 3];
            json!({
                "Name": format!("Project {i:02}"),
                "Status": status,
                "Priority": (i * 7) % 5 + 1,
                "Owner": owners[i % 3],
                "Due": format!("2024-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
                "Active": status != "Done",
                "Tags": if i.is_multiple_of(4) { json!(["client", "urgent"]) } else { json!(["internal"]) },
            })
        })
        .collect();
    Table {
        id: PROJECTS.into(),
        name: "Projects".into(),
        description: Some("Demo projects".into()),
        records: records("Proj", &fields, rows),
        fields,
        views: vec![
            view(PROJECTS, 1, "Grid view", None, &[]),
            view(PROJECTS, 2, "Active projects", Some("{Active}"), &[("Priority", true), ("Name", false)]),
            view(PROJECTS, 3, "Done", Some("{Status}='Done'"), &[("Name", false)]),
        ],
    }
}

fn tasks() -> Table {
    let fields = vec![
        field(TASKS, "Title", FieldType::SingleLineText, &[]),
        field(TASKS, "Project", FieldType::SingleLineText, &[]),
        field(TASKS, "Done", FieldType::Checkbox, &[]),
        field(TASKS, "Estimate", FieldType::Number, &[]),
        field(TASKS, "Attachments", FieldType::MultipleAttachments, &[]),
    ];
    let rows = (1..=10)
        .map(|i: usize| json!({ "Title": format!("Task {i}"), "Project": format!("Project {:02}", 1 + i % 3), "Done": i.is_multiple_of(2), "Estimate": i }))
        .collect();
    Table {
        id: TASKS.into(),
        name: "Tasks".into(),
        description: None,
        records: records("Task", &fields, rows),
        fields,
        views: vec![view(TASKS, 1, "Grid view", None, &[])],
    }
}

fn incidents() -> Table {
    let fields = vec![
        field(INCIDENTS, "Summary", FieldType::SingleLineText, &[]),
        field(INCIDENTS, "Severity", FieldType::SingleSelect, &["low", "high"]),
    ];
    let rows = vec![
        json!({ "Summary": "Disk full", "Severity": "high" }),
        json!({ "Summary": "Slow page", "Severity": "low" }),
    ];
    Table {
        id: INCIDENTS.into(),
        name: "Incidents".into(),
        description: None,
        records: records("Inc", &fields, rows),
        fields,
        views: vec![view(INCIDENTS, 1, "Grid view", None, &[])],
    }
}

pub fn demo_bases() -> Vec<Base> {
    vec![Base::new(DEMO_BASE, "Demo", vec![projects(), tasks()]), Base::new(OPS_BASE, "Operations", vec![incidents()])]
}
