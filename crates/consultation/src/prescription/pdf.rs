//! The prescription as a one-page A4 PDF: practitioner, patient, date, medications,
//! instructions, id, signature fingerprint and the QR code of the verification URL.
//!
//! Text uses the PDF's built-in Helvetica with WinAnsiEncoding, so the accented letters of
//! French, German and Italian print as themselves (é, ü, à, ß, œ, €…); characters outside
//! that set print as `?`. The QR code is drawn as filled rectangles, one per run of dark
//! modules. Long prescriptions get a smaller type size; past the smallest the text is cut
//! with a note that the verification page shows all of it.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use qrcode::{Color, EcLevel, QrCode};

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 56.0;
const QR_SIZE: f32 = 150.0;
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

/// The words of the page, in the reader's language.
pub struct Labels<'a> {
    pub title: &'a str,
    pub patient: &'a str,
    pub date: &'a str,
    pub medications: &'a str,
    pub dosage: &'a str,
    pub duration: &'a str,
    pub instructions: &'a str,
    pub id: &'a str,
    pub signature: &'a str,
    pub scan: &'a str,
    pub truncated: &'a str,
}

pub struct Document<'a> {
    pub practitioner: &'a str,
    pub patient: &'a str,
    pub date: &'a str,
    pub medications: &'a [super::Medication],
    pub instructions: &'a str,
    pub id: &'a str,
    pub fingerprint: &'a str,
    /// What the QR code carries.
    pub url: &'a str,
    /// The URL as printed under the code (without the capability).
    pub printed_url: &'a str,
}

/// WinAnsiEncoding (Windows-1252) bytes of `s`; `?` for what it cannot encode.
pub fn winansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '€' => 0x80,
            '‚' => 0x82,
            'ƒ' => 0x83,
            '„' => 0x84,
            '…' => 0x85,
            '†' => 0x86,
            '‡' => 0x87,
            'ˆ' => 0x88,
            '‰' => 0x89,
            'Š' => 0x8a,
            '‹' => 0x8b,
            'Œ' => 0x8c,
            'Ž' => 0x8e,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '˜' => 0x98,
            '™' => 0x99,
            'š' => 0x9a,
            '›' => 0x9b,
            'œ' => 0x9c,
            'ž' => 0x9e,
            'Ÿ' => 0x9f,
            '\u{202f}' => 0xa0,
            _ => b'?',
        })
        .collect()
}

/// Approximate Helvetica advance width in em, by character class: never narrower than
/// the real glyph for the classes that matter, so wrapped lines stay inside the margins.
fn char_em(c: char, bold: bool) -> f32 {
    let w = match c {
        ' ' | 'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '!' | '|' | '\'' | 'í' | 'ì' | 'î'
        | 'ï' => 0.28,
        'f' | 't' | 'r' | 'I' | '(' | ')' | '[' | ']' | '-' | '/' => 0.39,
        'm' | 'w' | 'M' | 'W' | '%' | '@' | 'Œ' | 'œ' | 'Æ' | 'æ' | '—' | '…' | '‰' => {
            0.95
        }
        c if c.is_uppercase() => 0.78,
        _ => 0.6,
    };
    if bold {
        w * 1.06
    } else {
        w
    }
}

fn text_width(s: &str, size: f32, bold: bool) -> f32 {
    s.chars().map(|c| char_em(c, bold)).sum::<f32>() * size
}

/// Greedy word wrap to `width`; words longer than a line are split.
fn wrap(text: &str, size: f32, bold: bool, width: f32) -> Vec<String> {
    let mut out = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split(' ').filter(|w| !w.is_empty()) {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if text_width(&candidate, size, bold) <= width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                out.push(std::mem::take(&mut line));
            }
            // A word wider than the line: cut it where it overflows.
            let mut piece = String::new();
            for c in word.chars() {
                piece.push(c);
                if text_width(&piece, size, bold) > width {
                    piece.pop();
                    out.push(std::mem::take(&mut piece));
                    piece.push(c);
                }
            }
            line = piece;
        }
        out.push(line);
    }
    out
}

struct Line {
    text: String,
    bold: bool,
    indent: f32,
    /// Extra space before this line, in multiples of the leading.
    gap: f32,
}

/// The body (medications and instructions) laid out at `size`.
fn body_lines(doc: &Document<'_>, labels: &Labels<'_>, size: f32) -> Vec<Line> {
    let width = PAGE_W - 2.0 * MARGIN;
    let mut lines = vec![Line {
        text: labels.medications.to_owned(),
        bold: true,
        indent: 0.0,
        gap: 0.0,
    }];
    for (i, m) in doc.medications.iter().enumerate() {
        for (j, t) in wrap(&format!("{}. {}", i + 1, m.name), size, true, width)
            .into_iter()
            .enumerate()
        {
            lines.push(Line {
                text: t,
                bold: true,
                indent: if j == 0 { 0.0 } else { 14.0 },
                gap: if j == 0 { 0.5 } else { 0.0 },
            });
        }
        let detail = format!(
            "{}: {} — {}: {}",
            labels.dosage, m.dosage, labels.duration, m.duration
        );
        for t in wrap(&detail, size, false, width - 14.0) {
            lines.push(Line {
                text: t,
                bold: false,
                indent: 14.0,
                gap: 0.0,
            });
        }
    }
    if !doc.instructions.is_empty() {
        lines.push(Line {
            text: labels.instructions.to_owned(),
            bold: true,
            indent: 0.0,
            gap: 1.0,
        });
        for t in wrap(doc.instructions, size, false, width) {
            lines.push(Line {
                text: t,
                bold: false,
                indent: 0.0,
                gap: 0.0,
            });
        }
    }
    lines
}

fn height(lines: &[Line], leading: f32) -> f32 {
    lines.iter().map(|l| (1.0 + l.gap) * leading).sum()
}

fn show(content: &mut Content, font: Name<'_>, size: f32, x: f32, y: f32, text: &str) {
    let bytes = winansi(text);
    content
        .begin_text()
        .set_font(font, size)
        .next_line(x, y)
        .show(Str(&bytes))
        .end_text();
}

/// Draws the QR code of `data` with its lower left corner at (x, y), `size` points wide.
fn draw_qr(content: &mut Content, data: &str, x: f32, y: f32, size: f32) -> bool {
    let Ok(code) = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M) else {
        return false;
    };
    let n = code.width();
    // Four modules of quiet zone on each side, inside `size`.
    let module = size / (n as f32 + 8.0);
    let colors = code.to_colors();
    content.save_state().set_fill_gray(0.0);
    for row in 0..n {
        let mut col = 0;
        while col < n {
            if colors[row * n + col] == Color::Dark {
                let start = col;
                while col < n && colors[row * n + col] == Color::Dark {
                    col += 1;
                }
                content.rect(
                    x + (start as f32 + 4.0) * module,
                    y + size - (row as f32 + 5.0) * module,
                    (col - start) as f32 * module,
                    module,
                );
            } else {
                col += 1;
            }
        }
    }
    content.fill_nonzero().restore_state();
    true
}

/// The PDF bytes. `None` only if the URL is too long for a QR code (it never is: ids and
/// capabilities have fixed lengths and the base URL is configuration).
pub fn render(doc: &Document<'_>, labels: &Labels<'_>) -> Option<Vec<u8>> {
    let (catalog, tree, page_id, regular, bold, content_id, info) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
        Ref::new(6),
        Ref::new(7),
    );
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids([page_id]).count(1);
    let mut page = pdf.page(page_id);
    page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
        .parent(tree)
        .contents(content_id);
    let mut resources = page.resources();
    resources.fonts().pair(REGULAR, regular).pair(BOLD, bold);
    resources.finish();
    page.finish();
    for (id, name) in [(regular, "Helvetica"), (bold, "Helvetica-Bold")] {
        pdf.type1_font(id)
            .base_font(Name(name.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    pdf.document_info(info)
        .title(TextStr(labels.title))
        .producer(TextStr("careslot"));

    let mut c = Content::new();
    let top = PAGE_H - MARGIN;
    // Header: title, practitioner, patient, date; the QR code on the right.
    show(&mut c, BOLD, 20.0, MARGIN, top - 20.0, labels.title);
    show(&mut c, BOLD, 13.0, MARGIN, top - 50.0, doc.practitioner);
    show(
        &mut c,
        REGULAR,
        11.0,
        MARGIN,
        top - 80.0,
        &format!("{}: {}", labels.patient, doc.patient),
    );
    show(
        &mut c,
        REGULAR,
        11.0,
        MARGIN,
        top - 96.0,
        &format!("{}: {}", labels.date, doc.date),
    );
    let qr_x = PAGE_W - MARGIN - QR_SIZE;
    let qr_y = top - QR_SIZE + 8.0;
    if !draw_qr(&mut c, doc.url, qr_x, qr_y, QR_SIZE) {
        return None;
    }
    // A rule under the header.
    let rule_y = qr_y - 10.0;
    c.set_line_width(0.5)
        .move_to(MARGIN, rule_y)
        .line_to(PAGE_W - MARGIN, rule_y)
        .stroke();

    // Body: the largest size at which it fits between the header and the footer.
    let footer_top = MARGIN + 70.0;
    let available = rule_y - 24.0 - footer_top;
    let mut size = 11.0;
    let mut lines = body_lines(doc, labels, size);
    while height(&lines, size * 1.3) > available && size > 7.0 {
        size -= 1.0;
        lines = body_lines(doc, labels, size);
    }
    let leading = size * 1.3;
    let mut truncated = false;
    while height(&lines, leading) > available - leading && !lines.is_empty() {
        lines.pop();
        truncated = true;
    }
    let mut y = rule_y - 24.0;
    for l in &lines {
        y -= l.gap * leading;
        let font = if l.bold { BOLD } else { REGULAR };
        show(&mut c, font, size, MARGIN + l.indent, y, &l.text);
        y -= leading;
    }
    if truncated {
        show(&mut c, REGULAR, size, MARGIN, y, labels.truncated);
    }

    // Footer: what identifies and authenticates this prescription.
    c.set_line_width(0.5)
        .move_to(MARGIN, footer_top)
        .line_to(PAGE_W - MARGIN, footer_top)
        .stroke();
    show(
        &mut c,
        REGULAR,
        9.0,
        MARGIN,
        footer_top - 16.0,
        &format!("{}: {}", labels.id, doc.id),
    );
    show(
        &mut c,
        REGULAR,
        9.0,
        MARGIN,
        footer_top - 30.0,
        &format!("{}: Ed25519 {}", labels.signature, doc.fingerprint),
    );
    show(
        &mut c,
        REGULAR,
        9.0,
        MARGIN,
        footer_top - 44.0,
        &format!("{} {}", labels.scan, doc.printed_url),
    );
    let stream = c.finish();
    pdf.stream(content_id, &stream);
    Some(pdf.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winansi_covers_western_european_letters() {
        assert_eq!(winansi("é"), vec![0xe9]);
        assert_eq!(winansi("ÄÖÜß"), vec![0xc4, 0xd6, 0xdc, 0xdf]);
        assert_eq!(winansi("œ€’"), vec![0x9c, 0x80, 0x92]);
        assert_eq!(winansi("(a)\\"), b"(a)\\".to_vec());
        assert_eq!(winansi("日"), b"?".to_vec());
    }

    #[test]
    fn wrapping_keeps_lines_inside_the_width() {
        let text = "Prendre un comprimé matin et soir pendant les repas, WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW fin";
        for l in wrap(text, 11.0, false, 200.0) {
            assert!(text_width(&l, 11.0, false) <= 200.0, "{l}");
        }
        assert_eq!(wrap("a\nb", 11.0, false, 200.0), vec!["a", "b"]);
    }
}
