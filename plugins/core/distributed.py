"""Batch-level computations over the global batch: W processes compute what 1 process computes.

Every batch-level loss of the plugin (batch-hard triplet, in-batch softmax, pair and negative sampling, centre
hinges, token-count means) and every BatchNorm goes through this module, so that a run on W processes with
``total / W`` samples each takes the same step as one process with the whole batch. No method package calls
``torch.distributed`` itself.

The convention that makes DDP's gradient averaging exact:

* every rank computes the **same global value** (a loss over the gathered batch, a mean over the global count);
* the backward of every collective **sums the cotangents of all ranks** (the adjoint of "every rank receives the
  same tensor"). Rank ``r``'s parameter gradient is then ``W`` times its share of the global gradient, and DDP's
  mean over ranks gives exactly the 1-process gradient. Per-sample means computed on the local slice alone are
  consistent with it as well (their mean over ranks is the global mean).

Under ``torch.autograd.grad(..., is_grads_batched=True)`` (CASN's per-image Grad-CAM) each batched cotangent
seeds one *local* output, so the other ranks contribute nothing to it: the backward of a collective is then the
identity (which is exact), and no collective runs under ``vmap`` (where ``torch.distributed.nn.all_reduce``
fails and the functional collectives silently skip the reduction).

At world size 1 (or without an initialised process group) every function is the identity.
"""
import contextlib
import hashlib

import torch
import torch.distributed as dist
import torch.nn as nn

__all__ = [
    'world_size', 'rank', 'is_distributed', 'all_gather_with_grad', 'all_gather_no_grad', 'global_sum',
    'global_mean', 'global_count', 'local_slice', 'shared_generator', 'set_shared_seed', 'global_rows_rand',
    'GlobalBatchDropout', 'GlobalBatchNorm', 'convert_global_batchnorm', 'local_computation',
    'global_any',
]

_LOCAL_ONLY = False


def is_distributed():
    return not _LOCAL_ONLY and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


@contextlib.contextmanager
def local_computation():
    """Inside: every function of this module acts on the local batch alone, as at world size 1 (DDP still
    averages the gradients). That is the per-rank computation of a run without this module, which
    ``tools/benchmark.py`` times against the global one; it is not a training mode."""
    global _LOCAL_ONLY
    previous, _LOCAL_ONLY = _LOCAL_ONLY, True
    try:
        yield
    finally:
        _LOCAL_ONLY = previous


def world_size():
    return dist.get_world_size() if is_distributed() else 1


def rank():
    return dist.get_rank() if is_distributed() else 0


def _is_batched(tensor):
    """Whether ``tensor`` is a functorch BatchedTensor (the cotangents of ``is_grads_batched=True``)."""
    functorch = torch._C._functorch
    return functorch.is_batchedtensor(tensor) or functorch.is_legacy_batchedtensor(tensor)


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks; the backward sums the cotangents over ranks (differentiable again: double backward)."""

    @staticmethod
    def forward(ctx, tensor):
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        if _is_batched(grad):  # a per-local-output cotangent: the other ranks add zero
            return grad
        return _AllReduceSum.apply(grad.contiguous())


def global_sum(tensor):
    """``tensor`` summed over all ranks (the same value on every rank), differentiable.

    Args:
        tensor (Tensor): any shape, the same on every rank.
    """
    if not is_distributed():
        return tensor
    return _AllReduceSum.apply(tensor)


def global_count(count, device=None):
    """A per-rank count (int or 0-dim tensor) summed over ranks, as a float tensor without gradient."""
    count = torch.as_tensor(count, dtype=torch.float64, device=device).detach()
    if not is_distributed():
        return count
    count = count.clone()
    dist.all_reduce(count)
    return count


def global_any(flag):
    """Whether ``flag`` is true on any rank: the same answer on every rank (one all-reduce of one number).

    Every rank must call it at the same point (e.g. once per training iteration, to agree on stopping there).

    Args:
        flag (bool): this rank's value.

    Returns:
        bool: ``flag`` of any rank; ``bool(flag)`` at world size 1.
    """
    if not is_distributed():
        return bool(flag)
    device = 'cuda' if dist.get_backend() == 'nccl' else 'cpu'  # NCCL reduces CUDA tensors only
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def global_mean(values, count=None):
    """Mean over the global batch: ``sum over ranks of values.sum() / sum over ranks of count``.

    Args:
        values (Tensor): per-sample (or per-token) values of this rank, any shape; summed whole.
        count (int | Tensor, optional): how many values the mean divides by on this rank (default
            ``values.numel()``): e.g. the number of masked tokens when ``values`` holds zeros elsewhere.

    Returns:
        Tensor: 0-dim, the same on every rank. An empty global batch gives 0 (not NaN).
    """
    count = values.numel() if count is None else count
    total = global_count(count, values.device).to(values.dtype)
    return global_sum(values.sum()) / total.clamp(min=1)


def _gather_sizes(length, device):
    size = torch.tensor([length], dtype=torch.long, device=device)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    return [int(s) for s in sizes]


def _gather_padded(tensor, sizes):
    """Concatenation over ranks of tensors whose first dims are ``sizes`` (padded for the collective)."""
    longest = max(sizes)
    padded = tensor.new_zeros((longest, *tensor.shape[1:]))
    padded[:tensor.shape[0]] = tensor
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([part[:n] for part, n in zip(parts, sizes)])


class _AllGather(torch.autograd.Function):
    """Concatenation over ranks along dim 0; the backward sums the cotangents over ranks, then keeps this
    rank's rows (gloo has no reduce-scatter)."""

    @staticmethod
    def forward(ctx, tensor, sizes):
        ctx.sizes = sizes
        return _gather_padded(tensor, sizes)

    @staticmethod
    def backward(ctx, grad):
        start = sum(ctx.sizes[:dist.get_rank()])
        stop = start + ctx.sizes[dist.get_rank()]
        if _is_batched(grad):
            return grad[start:stop], None
        return _AllReduceSum.apply(grad.contiguous())[start:stop], None


def all_gather_with_grad(tensor):
    """Rows of every rank concatenated in rank order (rank 0 first), with exact gradients.

    The 1-process batch is the concatenation of the per-rank batches in rank order (the plugin's samplers give
    each rank a contiguous slice of the global batch), so a loss on the gathered tensor is the 1-process loss.
    Per-rank sizes may differ.

    Args:
        tensor (Tensor): (N_r, ...) on rank r; the trailing dims equal on every rank.

    Returns:
        Tensor: (sum_r N_r, ...).
    """
    if not is_distributed():
        return tensor
    return _AllGather.apply(tensor, _gather_sizes(tensor.shape[0], tensor.device))


def all_gather_no_grad(tensor):
    """:func:`all_gather_with_grad` for tensors that carry no gradient (labels, modalities, indices)."""
    if not is_distributed():
        return tensor
    return _gather_padded(tensor.detach(), _gather_sizes(tensor.shape[0], tensor.device))


def local_slice(local_length, device=None):
    """The ``slice`` of this rank's rows in the gathered batch (rows ``[start, start + local_length)``)."""
    if not is_distributed():
        return slice(0, local_length)
    sizes = _gather_sizes(local_length, device or 'cpu')
    start = sum(sizes[:rank()])
    return slice(start, start + local_length)


# -- random draws that every rank makes identically ---------------------------------------------------------------

_SHARED = {'seed': 0, 'step': None, 'calls': {}}


def set_shared_seed(seed):
    """The run's seed, identical on every rank (``ReIDRunner`` sets it from ``randomness.seed``)."""
    _SHARED['seed'] = int(seed or 0)


def _current_iter():
    from mmengine.logging import MessageHub
    hub = MessageHub.get_current_instance()
    return int(hub.get_info('iter', 0) or 0)


def shared_generator(name, device='cpu', step=None):
    """A ``torch.Generator`` seeded from (run seed, training iteration, ``name``, call number): the same on every
    rank and at every world size, so a batch-level random draw (pairs, partners, negatives) on the gathered batch
    is the 1-process draw.

    The n-th call with one name in one iteration gets the n-th stream (every rank runs the same code in the same
    order), so a module called twice per step draws independently each time.

    Args:
        name (str): who draws (e.g. ``'casn.pairs'``); different names give independent streams.
        device (str | torch.device): where the generator lives (draw on CPU and move for portability).
        step (int, optional): the iteration; default the Runner's current one (``MessageHub`` ``'iter'``).
    """
    step = _current_iter() if step is None else int(step)
    if _SHARED['step'] != step:
        _SHARED['step'], _SHARED['calls'] = step, {}
    call = _SHARED['calls'].get(name, 0)
    _SHARED['calls'][name] = call + 1
    digest = hashlib.sha256(f'{_SHARED["seed"]}/{step}/{name}/{call}'.encode()).digest()
    generator = torch.Generator(device=device)
    generator.manual_seed(int.from_bytes(digest[:8], 'little') & ((1 << 63) - 1))
    return generator


def global_rows_rand(local, *shape, name):
    """Uniform [0, 1) draws, one row per sample of the global batch, of which this rank gets its own rows:
    sample-level randomness in the model (dropout masks, gates) that does not depend on the world size.

    Args:
        local (Tensor): this rank's batch (N_r, ...); only its length, dtype and device are read.
        *shape (int): the shape of one row's draws.
        name (str): the stream (see :func:`shared_generator`).

    Returns:
        Tensor: (N_r, *shape) on ``local``'s device and dtype.
    """
    sizes = _gather_sizes(local.shape[0], local.device) if is_distributed() else [local.shape[0]]
    start = sum(sizes[:rank()])  # one collective gives both this rank's rows and the global length
    draws = torch.rand((sum(sizes), *shape), generator=shared_generator(name), dtype=torch.float64)
    return draws[start:start + local.shape[0]].to(device=local.device, dtype=local.dtype)


class GlobalBatchDropout(nn.Dropout):
    """``nn.Dropout`` whose masks are drawn per sample of the global batch (:func:`global_rows_rand`), so a
    sample gets the same mask at any world size. Same arguments and scaling as :class:`torch.nn.Dropout`."""

    def forward(self, input):
        if not self.training or self.p == 0:
            return input
        if self.p == 1:
            return input * 0
        keep = global_rows_rand(input, *input.shape[1:], name='dropout') >= self.p
        return input * keep / (1 - self.p)


# -- BatchNorm over the global batch ------------------------------------------------------------------------------

class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are those of the global batch (any backend, CPU included).

    ``torch.nn.SyncBatchNorm`` is used on CUDA (``sync_bn='torch'``); it refuses CPU tensors, so gloo runs use
    this module: the per-channel sums of every rank are added with a differentiable all-reduce, the forward is
    then the 1-process BatchNorm on the concatenated batch and autograd gives its exact gradient (double
    backward and batched Grad-CAM gradients included). Running statistics are identical on every rank. In eval
    mode (or with ``track_running_stats`` and no batch statistics) it is a plain BatchNorm. The training output
    is bit for bit torch's CPU BatchNorm of the concatenated batch for an (N, C, *spatial) input (an (N, C) input
    agrees to the last bit of the float32 row sums), so a later kink (ReLU, max-pool, top-k) sees the 1-process
    values (issue 33); that exactness costs two float64 passes and a second all-reduce in the forward.

    Args: as :class:`torch.nn.BatchNorm2d`; any input ``(N, C, *)``.
    """

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f'GlobalBatchNorm: expected (N, C, ...) input, got shape {tuple(input.shape)}')

    def forward(self, input):
        self._check_input_dim(input)
        use_batch_stats = self.training or not self.track_running_stats
        if not use_batch_stats or not is_distributed():
            return super().forward(input)
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
        momentum = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
        dims = [0] + list(range(2, input.dim()))
        local_count = input.numel() // input.shape[1]
        shape = [1, -1] + [1] * (input.dim() - 2)
        # The gradient: one reduction of statistics whose inputs are only this rank's samples: that is what keeps
        # the batched (Grad-CAM) backward exact with an identity backward of the collective; the element count
        # travels in the same collective (a collective costs more than its payload here). Each rank's (mean,
        # variance) is a native two-pass reduction; their sums are combined in float64, where E[x^2] - E[x]^2
        # loses none of the float32 digits.
        if local_count:
            local_var, local_mean = torch.var_mean(input, dims, correction=0)
        else:  # no rows here (e.g. CAL's stem of a modality this rank has none of): the mean of nothing is NaN
            local_var = local_mean = input.sum(dims)
        local_mean, local_var = local_mean.double(), local_var.double()
        counted = local_mean.new_full((1, ), float(local_count))
        with torch.no_grad():  # the values: torch's CPU arithmetic, whose first pass is a float64 sum
            local_sum = input.detach().sum(dims, dtype=torch.float64)
        sums = global_sum(torch.cat([local_mean * local_count, (local_var + local_mean * local_mean) * local_count,
                                     local_sum, counted]))
        count = sums[-1].detach()
        mean, mean_sq, total = (sums[:-1] / count).chunk(3)
        var = (mean_sq - mean * mean).clamp(min=0)
        mean, invstd, var_sum = _torch_batchnorm_statistics(input, total.detach(), count, mean, var, self.eps,
                                                            dims, shape)
        if self.training and self.track_running_stats:
            with torch.no_grad():
                unbiased = var_sum / max(int(count) - 1, 1)
                self.running_mean.mul_(1 - momentum).add_(mean.detach().to(self.running_mean.dtype), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(unbiased.to(self.running_var.dtype), alpha=momentum)
        # y = x * alpha + beta, with torch's CPU kernel's roundings (see _torch_batchnorm_statistics)
        alpha = invstd * self.weight if self.affine else invstd
        bias = self.bias.double() if self.affine else 0
        beta = (bias - mean.double() * alpha.double()).to(input.dtype)  # one rounding, as the kernel's fma
        return torch.addcmul(beta.view(shape), input, alpha.view(shape))


def _with_value(graph, value):
    """``value`` (bit for bit) with the gradient of ``graph`` (same shape): ``graph - graph`` is exactly 0."""
    return value.detach() + (graph - graph.detach())


def _torch_batchnorm_statistics(input, mean64, count, mean_graph, var_graph, eps, dims, shape):
    """Mean and inverse std of the global batch with the values torch's CPU BatchNorm computes for the concatenated
    batch, bit for bit, and the gradient of the float64 statistics ``mean_graph``, ``var_graph``.

    Why bitwise (issue 33): any difference in the last bit of a BatchNorm output can land on a kink of a later layer
    (a ReLU input of -7.7e-7 at 1 process and +1.8e-6 at 2 in CAL's ResNet passed a gradient at one world size
    only: 7.2e-3 relative update error on cal_regdb_demo in float32). torch's kernel (contiguous input,
    ``batch_norm_cpu_collect_stats_contiguous_impl``): mean = float(sum in float64 / n); var_sum = float(sum in
    float64 of the input-dtype squares (x - mean)^2); invstd = float(1 / sqrt(double(var_sum / n) + eps)); the
    output ``x * alpha + beta`` with alpha = invstd * weight and beta = bias - mean * alpha, each a fused
    multiply-add. The float64 sums of the ranks differ from the kernel's sequential ones by ~1e-16 relative, far
    below the input dtype's last bit.

    Args:
        input (Tensor): this rank's activations (N_r, C, *).
        mean64 (Tensor): float64 (C,), the global mean from the float64 sums (no gradient).
        count (Tensor): the global number of values per channel.
        mean_graph, var_graph (Tensor): float64 (C,), the differentiable global statistics.

    Returns:
        tuple: mean and invstd (C,) in the input dtype, and the global sum of squares ``var_sum`` (C,) (no
        gradient; for the running variance).
    """
    dtype = input.dtype
    with torch.no_grad():
        mean = mean64.to(dtype)
        centred = input.detach() - mean.view(shape)
        var_sum = _global_sum_no_grad(torch.square(centred).sum(dims, dtype=torch.float64)).to(dtype)
        var = var_sum / int(count)
        invstd = (1 / torch.sqrt(var.double() + eps)).to(dtype)
    return (_with_value(mean_graph.to(dtype), mean), _with_value(torch.rsqrt(var_graph + eps).to(dtype), invstd),
            var_sum)


def _global_sum_no_grad(values):
    """Per-rank values summed over ranks, without gradient (one all-reduce; the identity at world size 1)."""
    values = values.detach().clone()
    if is_distributed():
        dist.all_reduce(values)
    return values


def convert_global_batchnorm(module):
    """Replace every BatchNorm (1d/2d/3d, SyncBatchNorm) of ``module`` by a :class:`GlobalBatchNorm` with the same
    parameters, buffers and mode (as ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``)."""
    converted = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        converted = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                    module.track_running_stats)
        if module.affine:
            with torch.no_grad():
                converted.weight = module.weight
                converted.bias = module.bias
        converted.running_mean = module.running_mean
        converted.running_var = module.running_var
        converted.num_batches_tracked = module.num_batches_tracked
        converted.training = module.training
        if hasattr(module, 'qconfig'):
            converted.qconfig = module.qconfig
    for name, child in module.named_children():
        converted.add_module(name, convert_global_batchnorm(child))
    return converted
