//! A horizontal bar chart as standalone SVG text (pure, no I/O).
//!
//! Written by hand instead of pulling in a plotting crate: the chart is a title, a few `rect`s
//! and `text`s per panel, and a hand-written emitter keeps the output byte-stable and readable in
//! a diff, and adds nothing to the build of a crate that CI compiles on every push.

use std::fmt::Write as _;

/// One panel: a titled group of bars sharing a scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Panel heading.
    pub title: String,
    /// Unit printed after each value (e.g. `circuits`, `min`).
    pub unit: String,
    /// (label, value) per bar, top to bottom.
    pub bars: Vec<(String, f64)>,
}

const WIDTH: f64 = 760.0;
const LABEL_W: f64 = 220.0;
const VALUE_W: f64 = 110.0;
const BAR_H: f64 = 22.0;
const GAP: f64 = 8.0;
const PANEL_HEAD: f64 = 34.0;
const MARGIN: f64 = 16.0;
const COLORS: [&str; 6] = [
    "#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2",
];

/// Renders `panels` stacked vertically under `title` and a small-print `note`.
pub fn bar_chart(title: &str, note: &str, panels: &[Panel]) -> String {
    let body_h: f64 = panels
        .iter()
        .map(|p| PANEL_HEAD + p.bars.len() as f64 * (BAR_H + GAP) + MARGIN)
        .sum();
    let height = 60.0 + body_h + 24.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(
        s,
        r##"<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN}" y="28" font-size="17" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let mut y = 60.0;
    for panel in panels {
        let _ = writeln!(
            s,
            r#"<text x="{MARGIN}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
            y + 16.0,
            escape(&panel.title)
        );
        y += PANEL_HEAD;
        let max = panel
            .bars
            .iter()
            .map(|(_, v)| *v)
            .fold(0.0_f64, f64::max)
            .max(f64::MIN_POSITIVE);
        let span = WIDTH - LABEL_W - VALUE_W - 2.0 * MARGIN;
        for (i, (label, value)) in panel.bars.iter().enumerate() {
            let w = (value / max * span).max(1.0);
            let x0 = MARGIN + LABEL_W;
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                x0 - 8.0,
                y + BAR_H * 0.72,
                escape(label)
            );
            let _ = writeln!(
                s,
                r#"<rect x="{x0}" y="{y}" width="{w:.1}" height="{BAR_H}" fill="{}"/>"#,
                COLORS[i % COLORS.len()]
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{}">{} {}</text>"#,
                x0 + w + 6.0,
                y + BAR_H * 0.72,
                format_value(*value),
                escape(&panel.unit)
            );
            y += BAR_H + GAP;
        }
        y += MARGIN;
    }
    let _ = writeln!(
        s,
        r##"<text x="{MARGIN}" y="{}" font-size="11" fill="#555555">{}</text>"##,
        height - 12.0,
        escape(note)
    );
    s.push_str("</svg>\n");
    s
}

/// Integers without decimals, others with one.
fn format_value(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value_and_text_is_escaped() {
        let svg = bar_chart(
            "t <1>",
            "n & m",
            &[Panel {
                title: "p".into(),
                unit: "circuits".into(),
                bars: vec![("a".into(), 10.0), ("b".into(), 5.0), ("zero".into(), 0.0)],
            }],
        );
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("t &lt;1&gt;") && svg.contains("n &amp; m"));
        let span = WIDTH - LABEL_W - VALUE_W - 2.0 * MARGIN;
        assert!(svg.contains(&format!(r#"width="{span:.1}""#)));
        assert!(svg.contains(&format!(r#"width="{:.1}""#, span / 2.0)));
        assert!(svg.contains(r#"width="1.0""#));
        assert!(svg.contains(">10 circuits<") && svg.contains(">0 circuits<"));
    }

    #[test]
    fn values_print_compactly() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(2.26), "2.3");
    }
}
