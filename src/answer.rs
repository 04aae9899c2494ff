//! Reading answers: what a homeserver said, and how to quote it safely in an error.

/// The longest excerpt of a body kept in an error, in characters.
const EXCERPT_CHARS: usize = 120;

/// A short, printable excerpt of a non-JSON body: the `<title>` of an HTML page, or the start of
/// the text with white space folded. Every occurrence of each secret is replaced by
/// `<redacted>` before cutting, so not even a part of one survives.
pub(crate) fn excerpt(body: &[u8], secrets: &[&str]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut text = html_title(&text).unwrap_or(&text).to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "<redacted>");
    }
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = folded
        .chars()
        .filter(|c| !c.is_control())
        .take(EXCERPT_CHARS)
        .collect();
    if folded.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

fn html_title(text: &str) -> Option<&str> {
    let lower = text.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let title = text[start..end].trim();
    (!title.is_empty()).then_some(title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_prefers_the_html_title() {
        let page =
            b"<html><head><TITLE>502 Bad Gateway</TITLE></head><body><h1>nginx</h1></body></html>";
        assert_eq!(excerpt(page, &[]), "502 Bad Gateway");
    }

    #[test]
    fn excerpt_is_short_folded_and_scrubbed() {
        let body = format!("oops\n\n  the password was hunter2 {}", "x".repeat(500));
        let out = excerpt(body.as_bytes(), &["hunter2"]);
        assert!(
            out.starts_with("oops the password was <redacted> x"),
            "{out}"
        );
        assert!(!out.contains("hunter2"));
        assert_eq!(out.chars().count(), EXCERPT_CHARS + 1);
    }

    #[test]
    fn a_secret_cut_by_the_excerpt_limit_is_still_scrubbed() {
        let secret = "syt_secretsecretsecret";
        let body = format!("{}{secret}", "a".repeat(EXCERPT_CHARS - 5));
        let out = excerpt(body.as_bytes(), &[secret]);
        assert!(!out.contains("syt_s"), "{out}");
    }
}
