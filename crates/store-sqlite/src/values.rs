//! Multi-row statements with bound parameters (`VALUES (?, ?), (?, ?), ...`), for the hot
//! batch writes: one statement per chunk of rows, each value bound as it is (a payload as a
//! BLOB), rather than a JSON document that SQLite parses again for every column of every row.
//!
//! Chunks hold [`MAX_ROWS`] rows, and the rest of a batch is split into powers of two, so a
//! handful of statement texts serve every batch size and stay in the connection's cache of
//! prepared statements.

/// Most rows in one statement.
pub(crate) const MAX_ROWS: usize = 128;

/// The chunk sizes `rows` rows are written in: full chunks, then the rest in powers of two,
/// largest first.
pub(crate) fn chunk_sizes(rows: usize) -> impl Iterator<Item = usize> {
    let full = std::iter::repeat_n(MAX_ROWS, rows / MAX_ROWS);
    let rest = rows % MAX_ROWS;
    let powers = (0..usize::BITS)
        .rev()
        .map(|bit| 1 << bit)
        .filter(move |size| rest & size != 0);
    full.chain(powers)
}

/// Splits `items` into the chunks of [`chunk_sizes`].
pub(crate) fn chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    chunk_sizes(items.len()).map(move |size| {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        chunk
    })
}

/// `VALUES (?, ?), (?, ?)`: `rows` rows of `columns` parameters.
pub(crate) fn values_clause(columns: usize, rows: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    format!("VALUES {}", vec![row; rows].join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes_cover_every_row_with_few_distinct_sizes() {
        for rows in 0..=3 * MAX_ROWS + 7 {
            let sizes: Vec<usize> = chunk_sizes(rows).collect();
            assert_eq!(sizes.iter().sum::<usize>(), rows, "{rows} rows");
            assert!(sizes
                .iter()
                .all(|size| size.is_power_of_two() && *size <= MAX_ROWS));
            assert!(sizes.windows(2).all(|pair| pair[0] >= pair[1]), "{sizes:?}");
        }
        assert_eq!(chunk_sizes(300).collect::<Vec<_>>(), [128, 128, 32, 8, 4]);
    }

    #[test]
    fn chunks_keep_the_order_of_items() {
        let items: Vec<u32> = (0..300).collect();
        let joined: Vec<u32> = chunks(&items).flatten().copied().collect();
        assert_eq!(joined, items);
    }

    #[test]
    fn values_clause_has_one_placeholder_per_value() {
        assert_eq!(values_clause(2, 3), "VALUES (?, ?), (?, ?), (?, ?)");
        assert_eq!(values_clause(1, 1), "VALUES (?)");
    }
}
