//! QR codes of invitation links (SVG, drawn by the `qrcode` crate), for a phone to scan.

use qrcode::QrCode;
use qrcode::render::svg;

/// The QR code of `text` as an SVG document (dark modules on white, quiet zone included, at least
/// `size` px wide). `None` when the text does not fit in a QR code.
pub fn svg_of(text: &str, size: u32) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(size, size)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_link_becomes_an_svg_qr_code() {
        let svg = super::svg_of("https://jhe.example.org/invite?code=abc~def", 200).unwrap();
        assert!(svg.contains("<svg"));
        assert!(svg.contains("#000000"));
        assert!(svg.contains("<path"));
    }
}
