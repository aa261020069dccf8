//! Where a filter expression failed: the API answers `InvalidRequestException` with a message
//! like `FilterExpression: filter expression: unexpected ')' at 27; expected a value`; the
//! console shows the message under the box with a caret at that byte offset.

/// A filter error placed in the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// The API's message.
    pub message: String,
    /// Byte offset in the expression, when the message gives one.
    pub pos: Option<usize>,
}

impl FilterError {
    /// Reads the position out of `message` (the last `at <digits>` before a `;` or the end).
    pub fn from_message(message: &str) -> FilterError {
        let pos = message.rmatch_indices(" at ").find_map(|(i, _)| {
            let rest = &message[i + 4..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let after = &rest[digits.len()..];
            (!digits.is_empty() && (after.is_empty() || after.starts_with(';')))
                .then(|| digits.parse().ok())
                .flatten()
        });
        FilterError {
            message: message.to_owned(),
            pos,
        }
    }

    /// Spaces up to the position in `expr` followed by `^`, for a line under the expression
    /// (the offset is clamped to the text and to a character boundary).
    pub fn caret(&self, expr: &str) -> Option<String> {
        let mut pos = self.pos?.min(expr.len());
        while !expr.is_char_boundary(pos) {
            pos -= 1;
        }
        let width = expr[..pos].chars().count();
        Some(format!("{}^", " ".repeat(width)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_is_read_from_the_collector_message() {
        let e = FilterError::from_message(
            "FilterExpression: filter expression: unexpected ')' at 27; expected a value",
        );
        assert_eq!(e.pos, Some(27));
        let e = FilterError::from_message("something else entirely");
        assert_eq!(e.pos, None);
        let e = FilterError::from_message(
            "FilterExpression: filter expression: unexpected end of expression at 6; expected a keyword",
        );
        assert_eq!(e.caret("ok AND").as_deref(), Some("      ^"));
    }
}
