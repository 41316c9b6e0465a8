//! `/docs`: the OpenAPI document as one self-contained HTML page — no script, no stylesheet or font from a
//! CDN, so it renders offline. (The utoipa viewer crates — Scalar, Redoc, RapiDoc — load their JavaScript
//! from a CDN at view time; Swagger UI downloads its bundle at build time. Neither works offline.)

use std::fmt::Write;

use serde_json::{Map, Value};

use crate::contract::{API_KEY, BEARER_JWT, DOCUMENT_PATH, is_public};

const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:0 auto;padding:1rem 2rem;color:#1d232a}\
h2{border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2.5rem}\
section.op{border:1px solid #d0d7de;border-radius:6px;margin:1rem 0;padding:.6rem 1rem}\
.m{display:inline-block;min-width:4.5rem;text-align:center;font:600 13px monospace;color:#fff;border-radius:4px;padding:2px 6px;margin-right:.5rem}\
.get{background:#1f6feb}.post{background:#1a7f37}.put,.patch{background:#9a6700}.delete{background:#cf222e}.head,.options{background:#6e7781}\
code,pre{font:13px/1.4 ui-monospace,monospace;background:#f6f8fa;border-radius:4px}code{padding:1px 4px}pre{padding:.6rem;overflow:auto}\
table{border-collapse:collapse;margin:.4rem 0}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}\
.lock{font-size:13px;color:#6e7781}nav a{margin-right:1rem}";

pub fn render(doc: &Value) -> String {
    let mut out = String::new();
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let version = doc["info"]["version"].as_str().unwrap_or("");
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head><body>\
         <h1>{t} <small>{v}</small></h1><p>{d}</p><p>Machine-readable: <a href=\"{DOCUMENT_PATH}\">{DOCUMENT_PATH}</a> \
         (OpenAPI {o}).</p>",
        t = esc(title),
        v = esc(version),
        d = text(doc["info"]["description"].as_str().unwrap_or("")),
        o = esc(doc["openapi"].as_str().unwrap_or("")),
    );
    servers(&mut out, doc);
    security(&mut out, doc);
    let groups = grouped(doc);
    out.push_str("<nav><strong>Groups:</strong> ");
    for (tag, _) in &groups {
        let _ = write!(out, "<a href=\"#tag-{a}\">{t}</a>", a = anchor(tag), t = esc(tag));
    }
    out.push_str("<a href=\"#schemas\">schemas</a></nav>");
    for (tag, operations) in &groups {
        let _ = write!(out, "<h2 id=\"tag-{}\">{}</h2>", anchor(tag), esc(tag));
        for (method, path, operation) in operations {
            render_operation(&mut out, method, path, operation);
        }
    }
    schemas(&mut out, doc);
    out.push_str("</body></html>");
    out
}

type Operation<'a> = (&'a str, &'a str, &'a Map<String, Value>);

/// Operations by their first tag, in path order.
fn grouped(doc: &Value) -> Vec<(String, Vec<Operation<'_>>)> {
    let mut groups: Vec<(String, Vec<Operation<'_>>)> = Vec::new();
    let Some(paths) = doc["paths"].as_object() else {
        return groups;
    };
    let mut sorted: Vec<_> = paths.iter().collect();
    sorted.sort_by_key(|(path, _)| path.as_str());
    for (path, item) in sorted {
        for method in METHODS {
            let Some(operation) = item.get(method).and_then(Value::as_object) else {
                continue;
            };
            let tag =
                operation.get("tags").and_then(|t| t.get(0)).and_then(Value::as_str).unwrap_or("other").to_string();
            match groups.iter_mut().find(|(t, _)| *t == tag) {
                Some((_, ops)) => ops.push((method, path, operation)),
                None => groups.push((tag, vec![(method, path, operation)])),
            }
        }
    }
    groups
}

fn servers(out: &mut String, doc: &Value) {
    let Some(servers) = doc["servers"].as_array() else {
        return;
    };
    out.push_str("<p><strong>Servers:</strong></p><ul>");
    for server in servers {
        let _ = write!(
            out,
            "<li><code>{}</code> — {}</li>",
            esc(server["url"].as_str().unwrap_or("")),
            text(server["description"].as_str().unwrap_or(""))
        );
    }
    out.push_str("</ul>");
}

fn security(out: &mut String, doc: &Value) {
    out.push_str("<p><strong>Authentication</strong> (🔒 operations; either one):</p><ul>");
    for name in [BEARER_JWT, API_KEY] {
        let scheme = &doc["components"]["securitySchemes"][name];
        let _ = write!(
            out,
            "<li><code>{}</code>: <code>Authorization: Bearer &lt;{}&gt;</code> — {}</li>",
            esc(name),
            esc(scheme["bearerFormat"].as_str().unwrap_or("token")),
            text(scheme["description"].as_str().unwrap_or(""))
        );
    }
    out.push_str("</ul>");
}

fn render_operation(out: &mut String, method: &str, path: &str, operation: &Map<String, Value>) {
    let lock = if is_public(operation) {
        "<span class=\"lock\">public</span>"
    } else {
        "<span class=\"lock\">🔒 bearer JWT or API key</span>"
    };
    let _ = write!(
        out,
        "<section class=\"op\" id=\"{a}\"><div><span class=\"m {m}\">{M}</span><code>{p}</code> {lock}</div>",
        a = anchor(&format!("{method}{path}")),
        m = method,
        M = method.to_uppercase(),
        p = esc(path),
    );
    for key in ["summary", "description"] {
        if let Some(s) = operation.get(key).and_then(Value::as_str) {
            let _ = write!(out, "<p>{}</p>", text(s));
        }
    }
    if let Some(params) = operation.get("parameters").and_then(Value::as_array) {
        out.push_str("<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>");
        for p in params {
            let required = if p["required"].as_bool() == Some(true) { " *" } else { "" };
            let _ = write!(
                out,
                "<tr><td><code>{}</code>{required}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(p["name"].as_str().unwrap_or("")),
                esc(p["in"].as_str().unwrap_or("")),
                type_of(&p["schema"]),
                text(p["description"].as_str().unwrap_or("")),
            );
        }
        out.push_str("</table>");
    }
    if let Some(body) = operation.get("requestBody") {
        let _ = write!(out, "<p><strong>Request body</strong>: {}</p>", content(&body["content"]));
    }
    if let Some(responses) = operation.get("responses").and_then(Value::as_object) {
        out.push_str("<table><tr><th>status</th><th>description</th><th>body</th></tr>");
        let mut sorted: Vec<_> = responses.iter().collect();
        sorted.sort_by_key(|(status, _)| status.as_str());
        for (status, response) in sorted {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(status),
                text(response["description"].as_str().unwrap_or("")),
                content(&response["content"]),
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</section>");
}

/// `application/json: <type>` for each media type of a request or response.
fn content(content: &Value) -> String {
    let Some(media) = content.as_object() else {
        return String::new();
    };
    media
        .iter()
        .map(|(kind, m)| format!("<code>{}</code> {}", esc(kind), type_of(&m["schema"])))
        .collect::<Vec<_>>()
        .join("<br>")
}

/// A schema in a few words, with references linked to their definition.
fn type_of(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!("<a href=\"#schema-{}\">{}</a>", anchor(name), esc(name));
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema[combinator].as_array() {
            let parts: Vec<String> = options.iter().map(type_of).collect();
            return parts.join(if combinator == "allOf" { " &amp; " } else { " | " });
        }
    }
    let kind = match &schema["type"] {
        Value::String(t) => esc(t),
        Value::Array(types) => types.iter().filter_map(Value::as_str).map(esc).collect::<Vec<_>>().join(" | "),
        _ => String::new(),
    };
    match kind.as_str() {
        "array" => format!("array of {}", type_of(&schema["items"])),
        "" if schema.as_object().is_some_and(Map::is_empty) => "any".into(),
        "" => "object".into(),
        _ => match schema["format"].as_str() {
            Some(format) => format!("{kind} ({})", esc(format)),
            None => kind,
        },
    }
}

fn schemas(out: &mut String, doc: &Value) {
    out.push_str("<h2 id=\"schemas\">Schemas</h2>");
    let Some(schemas) = doc["components"]["schemas"].as_object() else {
        return;
    };
    let mut sorted: Vec<_> = schemas.iter().collect();
    sorted.sort_by_key(|(name, _)| name.as_str());
    for (name, schema) in sorted {
        let pretty = serde_json::to_string_pretty(schema).unwrap_or_default();
        let _ = write!(
            out,
            "<section class=\"op\" id=\"schema-{a}\"><strong>{n}</strong>",
            a = anchor(name),
            n = esc(name)
        );
        if let Some(properties) = schema["properties"].as_object() {
            let required: Vec<&str> =
                schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            out.push_str("<table><tr><th>field</th><th>type</th><th>description</th></tr>");
            for (field, property) in properties {
                let mark = if required.contains(&field.as_str()) { " *" } else { "" };
                let _ = write!(
                    out,
                    "<tr><td><code>{}</code>{mark}</td><td>{}</td><td>{}</td></tr>",
                    esc(field),
                    type_of(property),
                    text(property["description"].as_str().unwrap_or("")),
                );
            }
            out.push_str("</table>");
        }
        let _ = write!(out, "<details><summary>JSON Schema</summary><pre>{}</pre></details></section>", esc(&pretty));
    }
}

/// Escapes text and renders `code` spans and paragraph breaks (the subset of Markdown the annotations use).
fn text(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in esc(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(&part.replace("\n\n", "</p><p>"));
        }
    }
    out
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn anchor(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_from_annotations_is_escaped_before_it_is_rendered() {
        assert_eq!(text("a <b> & `c<d>` \"e\""), "a &lt;b&gt; &amp; <code>c&lt;d&gt;</code> &quot;e&quot;");
    }

    #[test]
    fn schemas_read_as_a_few_words_with_links_to_references() {
        assert_eq!(
            type_of(&json!({"type": "array", "items": {"$ref": "#/components/schemas/User"}})),
            "array of <a href=\"#schema-User\">User</a>"
        );
        assert_eq!(type_of(&json!({"type": ["string", "null"]})), "string | null");
        assert_eq!(type_of(&json!({"type": "string", "format": "date-time"})), "string (date-time)");
        assert_eq!(type_of(&json!({})), "any");
    }
}
