//! The documents as PDF files: A4, DejaVu Sans embedded (it covers Cyrillic; its licence, in
//! `fonts/LICENSE-DejaVu`, allows redistribution), one title and lines of text.

use printpdf::{Mm, PdfDocument};
use std::io::BufWriter;

const FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// What a document says: a title and its lines, top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentText {
    pub title: String,
    pub lines: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("rendering the PDF failed: {0}")]
pub struct RenderError(String);

/// Renders `text` as a one-page (or more, when the lines run out of room) A4 PDF.
pub fn render(text: &DocumentText) -> Result<Vec<u8>, RenderError> {
    let fail = |e: &dyn std::fmt::Display| RenderError(e.to_string());
    let (doc, page, layer) = PdfDocument::new(&text.title, Mm(210.0), Mm(297.0), "text");
    let font = doc
        .add_external_font(std::io::Cursor::new(FONT))
        .map_err(|e| fail(&e))?;
    let mut layer = doc.get_page(page).get_layer(layer);
    layer.use_text(&text.title, 16.0, Mm(20.0), Mm(270.0), &font);
    let mut y = 255.0;
    for line in &text.lines {
        if y < 20.0 {
            let (page, next) = doc.add_page(Mm(210.0), Mm(297.0), "text");
            layer = doc.get_page(page).get_layer(next);
            y = 275.0;
        }
        layer.use_text(line, 11.0, Mm(20.0), Mm(y), &font);
        y -= 7.0;
    }
    let mut bytes = BufWriter::new(Vec::new());
    doc.save(&mut bytes).map_err(|e| fail(&e))?;
    bytes.into_inner().map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text poppler's `pdftotext` reads from the PDF (what a user's viewer would copy).
    pub fn pdf_text(pdf: &[u8]) -> String {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let mut child = Command::new("pdftotext")
            .args(["-enc", "UTF-8", "-", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("pdftotext (Debian's poppler-utils; tools/dev-services deps installs it)");
        child.stdin.take().unwrap().write_all(pdf).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "pdftotext failed");
        String::from_utf8(output.stdout).unwrap()
    }

    #[test]
    fn cyrillic_text_survives_a_round_trip_through_the_pdf() {
        let text = DocumentText {
            title: "Акт выполненных работ № 42".into(),
            lines: vec![
                "Заказчик: Анна Иванова".into(),
                "Исполнитель: Мастер Иван".into(),
                "Итого: 4 500,00 RUB".into(),
            ],
        };
        let pdf = render(&text).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let extracted = pdf_text(&pdf);
        for expected in [
            "Акт выполненных работ № 42",
            "Исполнитель: Мастер Иван",
            "4 500,00 RUB",
        ] {
            assert!(
                extracted.contains(expected),
                "{expected:?} not in {extracted:?}"
            );
        }
    }

    #[test]
    fn long_documents_continue_on_new_pages() {
        let text = DocumentText {
            title: "Договор".into(),
            lines: (1..=80).map(|i| format!("Пункт {i}")).collect(),
        };
        let extracted = pdf_text(&render(&text).unwrap());
        assert!(extracted.contains("Пункт 80"));
        assert!(extracted.contains('\u{c}'), "a page break");
    }
}
