//! A minimal CSV reader for the small label tables of the benchmark datasets.
//!
//! The tables are a few thousand rows of ids and numbers, so a 60-line reader that handles
//! what spreadsheet exports produce (CRLF, a byte-order mark, quoted fields with commas or
//! doubled quotes, blank lines) is enough and saves a dependency.

/// One parsed row: its 1-based line number in the file and its fields (trimmed, unquoted).
pub struct Row {
    /// 1-based line number where the row starts.
    pub line: usize,
    /// The fields.
    pub fields: Vec<String>,
}

/// Splits `text` into rows; blank lines are left out. An unterminated quote runs to the end of
/// the text (the caller's field-count check then reports the row).
pub fn parse(text: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut in_quotes = false;
    let mut line = 1;
    let mut row_line = 1;
    let mut chars = text.chars().peekable();
    let finish_field = |field: &mut String, quoted: &mut bool, fields: &mut Vec<String>| {
        let f = std::mem::take(field);
        fields.push(if *quoted { f } else { f.trim().to_owned() });
        *quoted = false;
    };
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() => {
                field.clear();
                in_quotes = true;
                quoted = true;
            }
            ',' => finish_field(&mut field, &mut quoted, &mut fields),
            '\r' => {}
            '\n' => {
                finish_field(&mut field, &mut quoted, &mut fields);
                push_row(&mut rows, row_line, std::mem::take(&mut fields));
                line += 1;
                row_line = line;
            }
            _ if quoted => {
                // Text after a closing quote: keep it (rare; e.g. `"a" b`).
                field.push(c);
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !fields.is_empty() || quoted {
        finish_field(&mut field, &mut quoted, &mut fields);
        push_row(&mut rows, row_line, fields);
    }
    rows
}

fn push_row(rows: &mut Vec<Row>, line: usize, fields: Vec<String>) {
    if fields.iter().all(|f| f.is_empty()) {
        return;
    }
    rows.push(Row { line, fields });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_quoted_crlf_and_blank_lines() {
        let rows = parse("a, b ,c\r\n\r\n1,\"x, \"\"y\"\"\",3\n\n4,5,6");
        let f: Vec<Vec<&str>> = rows
            .iter()
            .map(|r| r.fields.iter().map(|s| s.as_str()).collect())
            .collect();
        assert_eq!(
            f,
            vec![
                vec!["a", "b", "c"],
                vec!["1", "x, \"y\"", "3"],
                vec!["4", "5", "6"]
            ]
        );
        assert_eq!(
            rows.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![1, 3, 5]
        );
    }

    #[test]
    fn trailing_newline_and_empty_fields() {
        let rows = parse("a,,c\n");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].fields, vec!["a", "", "c"]);
    }
}
