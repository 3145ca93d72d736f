//! The `--format` templates of the listing commands, as far as docker's Go
//! templates go in practice: `{{.Field}}`, `{{json .}}`, `\t` and `\n`, and
//! a leading `table` for a header row and columns padded as docker pads
//! them. Shared by `image-store ls` and `container-ctl ps`.

use std::io::{self, Write};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

/// A row a template can show: the value of each field it knows, and
/// itself as JSON for `{{json .}}`.
pub trait Fields {
    /// The value of `{{.NAME}}`; only names the template accepted are asked.
    fn field(&self, name: &str) -> String;
    /// The row as one line of JSON.
    fn json(&self) -> String;
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(String),
    Json,
}

/// Cuts `s` to `max` characters, the last one an ellipsis, as docker's
/// tables cut commands.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A parsed `--format` template.
#[derive(Debug, Clone)]
pub struct Template {
    table: bool,
    parts: Vec<Part>,
    /// The header of each known field, for `table`.
    headers: Vec<(String, String)>,
}

impl Template {
    /// Parses `spec`; `fields` are the (name, table header) pairs the rows
    /// know. An unknown field or action is an error here, before any row.
    pub fn parse(spec: &str, fields: &[(&str, &str)]) -> Result<Template, TemplateError> {
        let (table, body) = match spec.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, spec),
        };
        let t = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut parts = Vec::new();
        let mut rest = t.as_str();
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let end = rest[start..]
                .find("}}")
                .ok_or_else(|| TemplateError(format!("template {spec:?}: unclosed {{{{")))?;
            let action = rest[start + 2..start + end].trim();
            if action == "json ." {
                parts.push(Part::Json);
            } else {
                let name = action.strip_prefix('.').ok_or_else(|| {
                    TemplateError(format!("template: unsupported action {{{{{action}}}}}"))
                })?;
                if !fields.iter().any(|(f, _)| *f == name) {
                    return Err(TemplateError(format!("template: unknown field .{name}")));
                }
                parts.push(Part::Field(name.to_string()));
            }
            rest = &rest[start + end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template {
            table,
            parts,
            headers: fields
                .iter()
                .map(|(f, h)| (f.to_string(), h.to_string()))
                .collect(),
        })
    }

    /// Whether the template asked for a table (`table …`).
    pub fn is_table(&self) -> bool {
        self.table
    }

    /// The header line: each field's header in its place.
    pub fn header(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                Part::Json => "JSON",
                Part::Field(f) => self
                    .headers
                    .iter()
                    .find(|(n, _)| n == f)
                    .map_or(f.as_str(), |(_, h)| h.as_str()),
            })
            .collect()
    }

    /// One row, as the template says.
    pub fn render(&self, row: &dyn Fields) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => out.push_str(&row.field(f)),
                Part::Json => out.push_str(&row.json()),
            }
        }
        out
    }

    /// Every row: a padded table under a header, or one line each.
    pub fn write(&self, rows: &[&dyn Fields], out: &mut dyn Write) -> io::Result<()> {
        if self.table {
            let split = |s: String| s.split('\t').map(str::to_string).collect::<Vec<_>>();
            let mut grid = vec![split(self.header())];
            grid.extend(rows.iter().map(|r| split(self.render(*r))));
            write!(out, "{}", table(&grid))
        } else {
            for r in rows {
                writeln!(out, "{}", self.render(*r))?;
            }
            Ok(())
        }
    }
}

/// Pads columns to a common width, three spaces apart, as docker does.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < r.len() {
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row(&'static str, u32);

    impl Fields for Row {
        fn field(&self, name: &str) -> String {
            match name {
                "Name" => self.0.to_string(),
                _ => self.1.to_string(),
            }
        }
        fn json(&self) -> String {
            format!("{{\"name\":{:?}}}", self.0)
        }
    }

    const FIELDS: &[(&str, &str)] = &[("Name", "NAME"), ("Size", "SIZE")];

    #[test]
    fn fields_and_json_fill_their_places() {
        let t = Template::parse("{{.Name}}: {{ .Size }} {{json .}}", FIELDS).unwrap();
        assert!(!t.is_table());
        assert_eq!(t.render(&Row("a", 3)), "a: 3 {\"name\":\"a\"}");
    }

    #[test]
    fn tables_get_a_header_and_padded_columns() {
        let t = Template::parse("table {{.Name}}\\t{{.Size}}", FIELDS).unwrap();
        let mut out = Vec::new();
        t.write(&[&Row("long-name", 1), &Row("b", 22)], &mut out)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "NAME        SIZE\nlong-name   1\nb           22\n"
        );
    }

    #[test]
    fn unknown_fields_and_actions_are_errors_before_any_row() {
        let e = Template::parse("{{.Nope}}", FIELDS).unwrap_err();
        assert_eq!(e.to_string(), "template: unknown field .Nope");
        assert!(Template::parse("{{if .Name}}", FIELDS).is_err());
        assert!(Template::parse("{{.Name", FIELDS)
            .unwrap_err()
            .to_string()
            .contains("unclosed"));
    }
}
