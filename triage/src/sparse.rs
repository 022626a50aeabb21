//! The two sparse shapes the classifiers need: one feature vector, and a
//! row-major matrix of them for training.

/// A sparse feature vector: distinct `indices` (ascending when built by
/// `Vectorizer::transform`), `values` beside them, never an explicit zero.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseVector {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVector {
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.indices.iter().copied().zip(self.values.iter().copied())
    }

    pub fn squared_norm(&self) -> f32 {
        self.values.iter().map(|value| value * value).sum()
    }
}

/// Compressed sparse rows: row `i` is `indices[indptr[i]..indptr[i + 1]]`
/// with the matching `values`.
#[derive(Clone, Debug, Default)]
pub struct CsrMatrix {
    pub n_columns: usize,
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl CsrMatrix {
    pub fn from_rows(rows: &[SparseVector], n_columns: usize) -> Self {
        let total: usize = rows.iter().map(SparseVector::len).sum();
        let mut matrix = CsrMatrix {
            n_columns,
            indptr: Vec::with_capacity(rows.len() + 1),
            indices: Vec::with_capacity(total),
            values: Vec::with_capacity(total),
        };
        matrix.indptr.push(0);
        for row in rows {
            debug_assert!(row.indices.iter().all(|&index| (index as usize) < n_columns));
            matrix.indices.extend_from_slice(&row.indices);
            matrix.values.extend_from_slice(&row.values);
            matrix.indptr.push(matrix.indices.len());
        }
        matrix
    }

    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    pub fn row(&self, row: usize) -> (&[u32], &[f32]) {
        let range = self.indptr[row]..self.indptr[row + 1];
        (&self.indices[range.clone()], &self.values[range])
    }

    /// The rows at `selection`, in that order.
    pub fn select_rows(&self, selection: &[usize]) -> CsrMatrix {
        let mut matrix = CsrMatrix {
            n_columns: self.n_columns,
            indptr: Vec::with_capacity(selection.len() + 1),
            indices: Vec::new(),
            values: Vec::new(),
        };
        matrix.indptr.push(0);
        for &row in selection {
            let (indices, values) = self.row(row);
            matrix.indices.extend_from_slice(indices);
            matrix.values.extend_from_slice(values);
            matrix.indptr.push(matrix.indices.len());
        }
        matrix
    }

    /// Dense copy of the rows, restricted to `columns` (new column `k` is old
    /// column `columns[k]`), for the linfa estimators, which take dense
    /// matrices.
    pub fn to_dense_columns(&self, columns: &[u32]) -> ndarray::Array2<f32> {
        let mut position = vec![u32::MAX; self.n_columns];
        for (new_column, &old_column) in columns.iter().enumerate() {
            position[old_column as usize] = new_column as u32;
        }
        let mut dense = ndarray::Array2::<f32>::zeros((self.n_rows(), columns.len()));
        for (row, mut out) in dense.axis_iter_mut(ndarray::Axis(0)).enumerate() {
            let (indices, values) = self.row(row);
            for (&index, &value) in indices.iter().zip(values) {
                let new_column = position[index as usize];
                if new_column != u32::MAX {
                    out[new_column as usize] = value;
                }
            }
        }
        dense
    }

    /// In how many rows each column is non-zero.
    pub fn column_document_frequency(&self) -> Vec<u32> {
        let mut frequency = vec![0u32; self.n_columns];
        for &index in &self.indices {
            frequency[index as usize] += 1;
        }
        frequency
    }
}
