//! Numbers as the report writes them: latencies with their unit, rates with thousands
//! separators, relative changes with a sign; and text escaped for HTML.

/// A latency in microseconds, in the unit that keeps it short: `850 µs`, `1.25 ms`, `2.5 s`.
pub fn us(v: f64) -> String {
    if !v.is_finite() {
        return "-".to_owned();
    }
    if v >= 1e6 {
        format!("{} s", short(v / 1e6))
    } else if v >= 1e3 {
        format!("{} ms", short(v / 1e3))
    } else {
        format!("{} µs", short(v))
    }
}

/// Three significant digits at most, no trailing zeros: `1.25`, `12.5`, `125`.
pub fn short(v: f64) -> String {
    let text = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// A count or rate rounded to a whole number, with thousands separators: `12,345`.
pub fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return "-".to_owned();
    }
    let n = v.round().abs() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if v.round() < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The change from `base` to `v` in percent, with a sign (`+12.3%`), or `-` when `base` is 0.
pub fn change(base: f64, v: f64) -> String {
    if base == 0.0 {
        if v == 0.0 {
            "+0.0%".to_owned()
        } else {
            "-".to_owned()
        }
    } else {
        format!("{:+.1}%", (v - base) / base * 100.0)
    }
}

/// A percentile as HdrHistogram's plots label it, from `x` = log10(1/(1-p)): 0 → `0%`,
/// 1 → `90%`, 3 → `99.9%`; empty between whole numbers.
pub fn percentile_label(x: f64) -> String {
    let k = x.round();
    if (x - k).abs() > 1e-6 || k < 0.0 {
        return String::new();
    }
    if k == 0.0 {
        return "0%".to_owned();
    }
    // f64 holds 17 significant digits: more decimals would only print zeros.
    let decimals = (k as usize).saturating_sub(2).min(17);
    format!("{:.*}%", decimals, 100.0 * (1.0 - 10f64.powf(-k)))
}

/// `text` with `&`, `<`, `>` and `"` escaped for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn units() {
        assert_eq!(us(850.0), "850 µs");
        assert_eq!(us(1250.0), "1.25 ms");
        assert_eq!(us(2_500_000.0), "2.5 s");
        assert_eq!(us(12.0), "12 µs");
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(change(100.0, 112.3), "+12.3%");
        assert_eq!(change(100.0, 50.0), "-50.0%");
        assert_eq!(change(0.0, 5.0), "-");
    }

    #[test]
    fn percentile_labels_as_hdrhistogram() {
        let labels: Vec<String> = (0..6).map(|k| percentile_label(k as f64)).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]);
        assert_eq!(percentile_label(1.5), "");
    }
}
