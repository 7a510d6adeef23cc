//! Quantized linear layer of the decoder: picks, per call, the faster of candle's CPU kernels.
//!
//! On an AVX512-VNNI CPU candle 0.11 runs every Q4K product on weights repacked into 16-row tiles
//! with their scales expanded to f32. That pays off when several rows of activations share each
//! weight load (prefill, verifying drafted tokens), but the tiles are a third bigger than the GGUF
//! blocks, and one decoding step reads every weight exactly once: it is bound by memory bandwidth.
//! For a single row this layer calls candle's kernel on the compact GGUF blocks instead
//! (`k_quants::matmul`). Measured on the 131 MB Q4K embedding matrix, one row: 27.4 GB/s compact,
//! 15.4 GB/s tiled. Other types and shapes go through [`QMatMul`] unchanged.

use candle_core::quantized::k_quants::{self, BlockQ4K};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Module, Result, Tensor};

pub struct QLinear(QMatMul);

impl QLinear {
    pub fn from_qtensor(w: QTensor) -> Result<Self> {
        Ok(QLinear(QMatMul::from_qtensor(w)?))
    }

    /// `x · wᵀ` for `x` of shape `(…, k)`. Fails when `x`'s last dimension is not `k`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.compact_q4k() {
            Some(w) if rows(x) == 1 => gemv_q4k(w, x),
            _ => self.0.forward(x),
        }
    }

    /// `x` through several layers that all read it. For several rows, when candle has a fused
    /// kernel for the weights (same quantized type, AVX512-VNNI), `x` is quantized once and every
    /// product runs in one parallel region; otherwise, and for one row, one product each.
    pub fn forward_shared<const N: usize>(ws: [&Self; N], x: &Tensor) -> Result<[Tensor; N]> {
        let fused = if rows(x) > 1 && x.is_contiguous() {
            let quantized: Option<Vec<&QTensor>> = ws.iter().map(|w| w.qtensor()).collect();
            match quantized {
                Some(ts) => QTensor::gemv_fused_shared_lhs(&ts, x)?,
                None => None,
            }
        } else {
            None
        };
        let outs = match fused {
            Some(outs) => outs,
            None => ws.iter().map(|w| w.forward(x)).collect::<Result<Vec<_>>>()?,
        };
        outs.try_into().map_err(|_| candle_core::Error::Msg("fused matmul returned the wrong number of outputs".into()))
    }

    fn qtensor(&self) -> Option<&QTensor> {
        match &self.0 {
            QMatMul::QTensor(t) => Some(t.as_ref()),
            _ => None,
        }
    }

    fn compact_q4k(&self) -> Option<&QTensor> {
        self.qtensor().filter(|t| t.dtype() == GgmlDType::Q4K)
    }
}

/// Rows of activations: every dimension but the last.
fn rows(x: &Tensor) -> usize {
    x.dims().split_last().map_or(0, |(_, batch)| batch.iter().product())
}

/// One row times a Q4K matrix on its GGUF blocks.
fn gemv_q4k(w: &QTensor, x: &Tensor) -> Result<Tensor> {
    let (n, k) = w.shape().dims2()?;
    let x_row = x.flatten_all()?.to_vec1::<f32>()?;
    if x_row.len() != k {
        candle_core::bail!("input of {} values for a {n}x{k} matrix", x_row.len());
    }
    let bytes = w.data()?;
    let size = std::mem::size_of::<BlockQ4K>();
    if bytes.len() != n * k / 256 * size || !(bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<BlockQ4K>()) {
        candle_core::bail!("Q4K storage of {} bytes does not hold a {n}x{k} matrix", bytes.len());
    }
    // SAFETY: candle's CPU storage of a Q4K tensor is a `Vec<BlockQ4K>`; length and alignment are
    // checked above, and `BlockQ4K` is `repr(C)` plain data.
    let blocks = unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const BlockQ4K, bytes.len() / size) };
    let mut out = vec![0f32; n];
    k_quants::matmul((1, k, n), &x_row, blocks, &mut out)?;
    let mut dims = x.dims().to_vec();
    if let Some(last) = dims.last_mut() {
        *last = n;
    }
    Tensor::from_vec(out, dims, x.device())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The compact single-row path and candle's own kernel (tiled on VNNI CPUs, compact elsewhere)
    /// agree, for one row and for several.
    #[test]
    fn one_row_matches_candle_and_rows_stay_independent() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (48, 512), &dev).unwrap();
        let q = QTensor::quantize(&w, GgmlDType::Q4K).unwrap();
        let reference = QMatMul::from_qtensor(QTensor::quantize(&w, GgmlDType::Q4K).unwrap()).unwrap();
        let layer = QLinear::from_qtensor(q).unwrap();
        let x = Tensor::randn(0f32, 1.0, (1, 3, 512), &dev).unwrap();
        let all = layer.forward(&x).unwrap();
        let expected = reference.forward(&x).unwrap();
        let diff = |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff(&all, &expected) < 1e-3);
        for i in 0..3 {
            let row = x.narrow(1, i, 1).unwrap();
            let one = layer.forward(&row).unwrap();
            assert_eq!(one.dims(), &[1, 1, 48]);
            assert!(diff(&one, &expected.narrow(1, i, 1).unwrap()) < 1e-3, "row {i}");
        }
        let [a, b] = QLinear::forward_shared([&layer, &layer], &x).unwrap();
        assert!(diff(&a, &expected) < 1e-3 && diff(&b, &expected) < 1e-3);
        assert!(layer.forward(&Tensor::zeros((1, 1, 256), candle_core::DType::F32, &dev).unwrap()).is_err());
    }
}
