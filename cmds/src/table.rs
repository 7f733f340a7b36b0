//! The tables the tools print, laid out by comfy-table the way NetBSD's netstat prints its
//! own: no borders, no wrapping, a header line, columns separated by spaces, each column
//! aligned as NetBSD aligns it (names and addresses left, counts right).
//!
//! Every column starts at NetBSD's printf width (`%-13.13s` is 13), so a table whose
//! entries fit is NetBSD's to the character. A column NetBSD cuts (`%-13.13s`: a long
//! network name) is cut the same way, unless the table is `wide` (netstat's `-v`, which
//! NetBSD has for the same purpose in `netstat -i`). A longer entry that NetBSD does not cut
//! (a counter past its width, an interface name longer than five letters) widens its whole
//! column, where NetBSD's printf would push only its own line out of line.
//!
//! Which tables use this and which keep NetBSD's fixed printf widths is listed in the README
//! (Tables).

use comfy_table::{presets::NOTHING, Cell, CellAlignment, ColumnConstraint, ContentArrangement, Width};

/// How a column's entries sit in its width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// One column: its header, alignment, NetBSD's width, whether NetBSD cuts longer entries
/// to that width, and the spaces after it.
#[derive(Debug, Clone, Copy)]
pub struct Col {
    head: &'static str,
    align: Align,
    width: usize,
    cut: bool,
    gap: usize,
}

impl Col {
    /// A left-aligned column at least `width` wide (`%-Ns`), one space after it.
    pub fn left(head: &'static str, width: usize) -> Col {
        Col {
            head,
            align: Align::Left,
            width,
            cut: false,
            gap: 1,
        }
    }

    /// A right-aligned column at least `width` wide (`%Ns`), one space after it.
    pub fn right(head: &'static str, width: usize) -> Col {
        Col {
            align: Align::Right,
            ..Col::left(head, width)
        }
    }

    /// Longer entries are cut to the width (`%-N.Ns`), unless the table is wide.
    pub fn cut(self) -> Col {
        Col { cut: true, ..self }
    }

    /// `n` spaces after the column instead of one.
    pub fn gap(self, n: usize) -> Col {
        Col { gap: n, ..self }
    }
}

/// A table being filled: its columns, then rows of as many cells.
pub struct Table {
    cols: Vec<Col>,
    rows: Vec<Vec<String>>,
    wide: bool,
}

impl Table {
    /// A table of these columns; `wide` (netstat `-v`) cuts nothing.
    pub fn new(cols: &[Col], wide: bool) -> Table {
        Table {
            cols: cols.to_vec(),
            rows: Vec::new(),
            wide,
        }
    }

    /// Adds a row: one cell per column, in order (missing cells are empty).
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The header line and every row, each line without trailing blanks and ending in a
    /// newline.
    pub fn render(&self) -> String {
        let mut t = comfy_table::Table::new();
        t.load_style(NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled);
        t.set_header(self.cols.iter().map(|c| Cell::new(c.head)));
        for r in &self.rows {
            t.add_row(self.cols.iter().enumerate().map(|(i, c)| {
                let s = r.get(i).map(String::as_str).unwrap_or("");
                Cell::new(if c.cut && !self.wide { cut(s, c.width) } else { s })
            }));
        }
        let last = self.cols.len().saturating_sub(1);
        for (i, (c, col)) in self.cols.iter().zip(t.column_iter_mut()).enumerate() {
            // The last column needs no blanks after it: lines are trimmed anyway.
            let gap = if i == last { 0 } else { c.gap };
            let gap16 = u16::try_from(gap).unwrap_or(u16::MAX);
            col.set_padding((0, gap16));
            col.set_cell_alignment(match c.align {
                Align::Left => CellAlignment::Left,
                Align::Right => CellAlignment::Right,
            });
            // The constraint counts the padding too.
            let min = u16::try_from(c.width + gap).unwrap_or(u16::MAX);
            col.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(min)));
        }
        let mut out = String::new();
        for l in t.lines() {
            out.push_str(l.trim_end());
            out.push('\n');
        }
        out
    }
}

/// The first `width` characters of `s`, as printf's `%.Ns` keeps them.
pub fn cut(s: &str, width: usize) -> &str {
    match s.char_indices().nth(width) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_alignment_gaps_and_cuts_as_printf() {
        let cols = [
            Col::left("Name", 5),
            Col::right("Count", 8).gap(2),
            Col::left("Network", 7).cut(),
            Col::left("Last", 0),
        ];
        let mut t = Table::new(&cols, false);
        t.row(["en0", "12", "10.0.0/24", "x"]);
        t.row(["lo0", "3", "127/8", ""]);
        // printf's lines, without their trailing blanks.
        let trimmed = |s: String| s.lines().map(|l| format!("{}\n", l.trim_end())).collect::<String>();
        let want = format!(
            "{:<5} {:>8}  {:<7} {}\n{:<5} {:>8}  {:<7} {}\n{:<5} {:>8}  {:<7}\n",
            "Name", "Count", "Network", "Last", "en0", 12, "10.0.0/", "x", "lo0", 3, "127/8"
        );
        assert_eq!(t.render(), trimmed(want));
        // Wide: nothing is cut, and the column takes its widest entry.
        let mut t = Table::new(&cols, true);
        t.row(["en0", "12", "10.0.0/24", "x"]);
        let line = format!("{:<5} {:>8}  {:<9} {}\n", "en0", 12, "10.0.0/24", "x");
        assert!(t.render().ends_with(&line), "{}", t.render());
        // An entry NetBSD does not cut widens its column for every line.
        let mut t = Table::new(&cols, false);
        t.row(["bridge0", "123456789", "", ""]);
        t.row(["en0", "1", "", ""]);
        let want = format!(
            "{:<7} {:>9}  {:<7} {}\n{:<7} {:>9}\n{:<7} {:>9}\n",
            "Name", "Count", "Network", "Last", "bridge0", 123456789, "en0", 1
        );
        assert_eq!(t.render(), trimmed(want));
    }

    #[test]
    fn cut_counts_characters() {
        assert_eq!(cut("abcdef", 3), "abc");
        assert_eq!(cut("ab", 3), "ab");
        assert_eq!(cut("äöüß", 2), "äö");
    }
}
