"""The per-worker GAN training loop (§3.5, §4.2): one `run_worker` per Ray Train worker or in process.

Each worker runs the plain-torch `GanTrainer` (DDP through `prepare_model`; bf16 autocast and
channels_last on GPU) from the run folder's newest checkpoint; rank 0 also evaluates, keeps the
best checkpoint, writes samples, checkpoints and TensorBoard events, and reports progress.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import ray
import ray.train
import ray.train.torch
import torch
from torch.utils.tensorboard import SummaryWriter

from nircolor.dataset_tools.shards import file_sha256
from nircolor.models.inference import resolve_device
from nircolor.models.preprocess import nir_to_tensor
from nircolor.pipeline.gan import GanTrainer, build_discriminator, unwrap
from nircolor.pipeline.run_folder import RunFolder, step_name
from nircolor.pipeline.shard_dataset import DatasetError, ShardDataset, StepBatches, collate_pairs, split_shards, step_loader
from nircolor.pipeline.train_config import TrainConfig

# What TensorBoard's HParams tab shows of a run (plain values only).
HPARAMS = ("model_name", "steps", "batch_size", "crop_size", "l1_weight", "learning_rate", "conditional",
           "adam_beta1", "adam_beta2", "lr_schedule", "lr_final_fraction", "l1_warmup_steps", "scale_crop_min",
           "contrast_jitter", "precision", "workers", "seed")

# Called as on_step(step, rank, device) in every worker after each optimizer step: the seam through which
# tests inject a lost worker and benchmarks time the loop. Ray Train workers receive it pickled.
StepHook = Callable[[int, int, torch.device], None]


def manifest_sha256(dataset_dir: Path) -> str | None:
    manifest = dataset_dir / "manifest.json"
    return file_sha256(manifest) if manifest.is_file() else None


def train_worker(loop: dict) -> None:
    """The Ray Train entry point; `loop` carries the TrainConfig, the progress queue and an optional step hook."""
    config = TrainConfig(**loop["config"])
    device = resolve_device(ray.train.torch.get_device())
    torch.set_num_threads(config.cpus_per_worker)
    if device.type != "cuda":
        # CPU runs are reproducible to the bit: a resume equals an uninterrupted run.
        torch.use_deterministic_algorithms(True, warn_only=True)
    context = ray.train.get_context()
    resume = ray.train.get_checkpoint()  # the newest checkpoint reported to Ray Train, on a restart or re-run
    run_worker(config, rank=context.get_world_rank(), world_size=context.get_world_size(), device=device,
               prepare_model=ray.train.torch.prepare_model, progress_queue=loop.get("progress_queue"),
               on_step=loop.get("on_step"), deadline=loop.get("deadline"), report=report_to_ray_train,
               resume_from=Path(resume.path) if resume is not None else None)


def report_to_ray_train(metrics: dict, checkpoint: Path | None) -> None:
    """Every worker reports at every checkpoint step; rank 0 names the checkpoint folder it wrote. The
    folder lies inside the run folder, which is Ray Train's experiment folder: nothing is copied."""
    ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(str(checkpoint)) if checkpoint else None,
                     checkpoint_upload_mode=ray.train.CheckpointUploadMode.NO_UPLOAD)


def _sample_pairs(dataset: ShardDataset, count: int):
    """The fixed frames shown in every sample grid: evenly spread over the split."""
    indices = np.unique(np.linspace(0, len(dataset) - 1, num=min(count, len(dataset))).round().astype(int))
    return [dataset.read_pair(int(index)) for index in indices]


def _eval_set(dataset_dir: Path) -> ShardDataset | None:
    """Full eval frames, or None when the dataset has no eval pairs (then no best/ is kept)."""
    shards = split_shards(dataset_dir, "eval")
    try:
        return ShardDataset(shards, crop_size=None, flip=False) if shards else None
    except DatasetError:
        return None


class _Leader:
    """Rank 0's duties between steps: losses to TensorBoard, eval L1 and best/, samples, checkpoints."""

    def __init__(self, config: TrainConfig, run: RunFolder, trainer: GanTrainer, *, start_step: int,
                 steps_per_epoch: int, nir_bits: int, device: torch.device, memory_format, world_size: int,
                 keep: int):
        self.config, self.run, self.trainer = config, run, trainer
        self.steps_per_epoch, self.nir_bits, self.world_size = steps_per_epoch, nir_bits, world_size
        self.device, self.memory_format = device, memory_format
        dataset_dir = Path(config.dataset)
        self.manifest_hash = manifest_sha256(dataset_dir)
        self.eval_set = _eval_set(dataset_dir)
        sample_source = self.eval_set if self.eval_set is not None else ShardDataset.from_split(
            dataset_dir, "train", flip=False)
        self.sample_pairs = _sample_pairs(sample_source, config.sample_frames)
        # Drop only what a lost run logged after its last checkpoint; the checkpoint's own step stays.
        self.writer = SummaryWriter(log_dir=str(run.tensorboard), purge_step=start_step + 1)
        self.best_value = run.best_eval(config.select_by)  # what best/ was chosen by: eval L1 or PSNR
        self.saved_step = start_step
        self.last_eval: dict = {}
        # Under Ray Train its CheckpointConfig keeps checkpoints (the best by eval and the newest);
        # in a plain process the run folder keeps the newest `keep_checkpoints`.
        self.keep = keep
        self.losses: dict = {}
        self.losses_read = 0.0  # when the losses were last copied to the host
        # What evaluators read beside the weights (evaluate.training_summary): λ and the discriminator kind.
        self.training_record = {"lambda": config.l1_weight, "conditional": config.conditional}

    def to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(self.device, non_blocking=True, memory_format=self.memory_format)

    def after_step(self, step: int, step_losses: dict) -> tuple[dict, bool]:
        """Do what is due at `step`: (the events worth reporting (eval_l1, best, checkpoint), whether to report)."""
        config = self.config
        is_last = step == config.steps
        logged = step % config.log_every == 0 or is_last
        # Reading the losses waits for the device: once a second for progress, and on logged steps.
        refresh = time.monotonic() - self.losses_read > 1.0
        events: dict = {}
        if logged or refresh:
            self.losses = GanTrainer.losses_to_floats(step_losses)
            if refresh:
                self.losses_read = time.monotonic()
            if logged:
                for name, value in self.losses.items():
                    self.writer.add_scalar(f"loss/{name}", value, step)
                # The rate this step ran at (the schedule's, pipeline/recipe.py).
                rate = self.trainer.generator_optimizer.param_groups[0]["lr"]
                self.writer.add_scalar("train/learning_rate", rate, step)
        if self.eval_set is not None and config.eval_every > 0 and (step % config.eval_every == 0 or is_last):
            events.update(self.evaluate(step))
        if config.sample_every > 0 and (step % config.sample_every == 0 or is_last):
            self.save_sample(step)
        if checkpoint_due(config, step):
            self.save_checkpoint(step, events.get("eval_l1"))
            events["checkpoint"] = step
        return events, bool(events) or refresh

    def evaluate(self, step: int) -> dict:
        batches = ((self.to_device(nir), self.to_device(rgb))
                   for nir, rgb in (collate_pairs([self.eval_set[index]]) for index in range(len(self.eval_set))))
        scores = self.trainer.evaluate(batches)
        self.last_eval = scores
        for name, value in scores.items():
            self.writer.add_scalar(f"eval/{name}", value, step)
        events = {"eval_l1": scores["l1"], "eval_psnr": scores["psnr"]}
        value = scores[self.config.select_by]
        higher_is_better = self.config.select_by == "psnr"
        if self.best_value is not None and (value <= self.best_value if higher_is_better else value >= self.best_value):
            return events
        self.best_value = value
        self.run.save_best(unwrap(self.trainer.generator), step=step, eval_l1=scores["l1"], nir_bits=self.nir_bits,
                           manifest_sha256=self.manifest_hash,
                           extra={**self.training_record, "eval_psnr": scores["psnr"],
                                  "selected_by": self.config.select_by})
        return {**events, "best": True}

    def save_sample(self, step: int) -> None:
        generator = unwrap(self.trainer.generator)
        generator.eval()
        with torch.no_grad():
            outputs = [generator(self.to_device(nir_to_tensor(nir, bits))).float().cpu()
                       for nir, _, bits in self.sample_pairs]
        generator.train()
        pairs = self.sample_pairs
        path = self.run.write_sample(step, [pair[0] for pair in pairs], [pair[2] for pair in pairs], outputs,
                                     [pair[1] for pair in pairs])
        grid = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if grid is not None:  # the same grid in TensorBoard's Images tab: NIR | output | target
            self.writer.add_image("samples", cv2.cvtColor(grid, cv2.COLOR_BGR2RGB), step, dataformats="HWC")

    def report_metrics(self, step: int) -> dict:
        """What Ray Train records with the checkpoint of `step`: the losses and the latest evaluation.

        The score Ray keeps checkpoints by is always present: before the first evaluation it is the
        worst possible value (inf for L1, -inf for PSNR)."""
        return {"step": step, **{f"loss_{name}": value for name, value in self.losses.items()},
                "eval_l1": self.last_eval.get("l1", float("inf")),
                "eval_psnr": self.last_eval.get("psnr", float("-inf"))}

    def save_checkpoint(self, step: int, eval_l1: float | None, *, only_if_new: bool = False) -> None:
        if only_if_new and self.saved_step == step:
            return
        self.saved_step = step
        on_gpu = self.device.type == "cuda"
        state = self.trainer.state_dict()
        state["rng"] = {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state() if on_gpu else None}
        epoch, position = divmod(step, self.steps_per_epoch)
        state["data_position"] = {"step": step, "epoch": epoch, "batch_in_epoch": position,
                                  "world_size": self.world_size, "seed": self.config.seed}
        self.run.save_checkpoint(unwrap(self.trainer.generator), state, step=step, nir_bits=self.nir_bits,
                                 manifest_sha256=self.manifest_hash, keep=self.keep,
                                 extra={**self.training_record, "eval_l1": eval_l1})
        self.writer.flush()

    def close(self) -> None:
        # The run's settings beside its best eval L1 in TensorBoard's HParams tab (one row per sitting).
        hyper_parameters = {key: value for key, value in self.config.to_dict().items()
                            if key in HPARAMS and value is not None}
        self.writer.add_hparams(hyper_parameters, {f"hparam/best_eval_{self.config.select_by}": float("nan") if self.best_value is None else self.best_value},
                                run_name="hparams")
        self.writer.close()


def checkpoint_due(config: TrainConfig, step: int) -> bool:
    return step % config.checkpoint_every == 0 or step == config.steps


def out_of_time(deadline: float | None, world_size: int, device: torch.device) -> bool:
    """Whether the wall-clock budget is spent; every worker gets the same answer (else DDP would hang)."""
    if deadline is None:
        return False
    spent = time.time() >= deadline
    if world_size == 1:
        return spent
    flag = torch.tensor([1.0 if spent else 0.0], device=device)
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return bool(flag.item())


def run_worker(config: TrainConfig, *, rank: int, world_size: int, device: torch.device, prepare_model,
               progress_queue=None, on_step: StepHook | None = None, deadline: float | None = None,
               report: Callable[[dict, Path | None], None] | None = None,
               resume_from: Path | None = None) -> tuple[int, int]:
    """Train from the newest checkpoint of the run folder up to `config.steps` (one worker's share).

    `deadline` (time.time() seconds) stops the loop after the step during which it passed, with a
    checkpoint of that step, so the same command resumes exactly. Returns (the step it resumed from,
    the step it reached).
    """
    on_gpu = device.type == "cuda"
    run = RunFolder(config.run_dir)
    torch.manual_seed(config.seed)
    generator = config.generator_config().build()
    discriminator = build_discriminator(config.l1_weight, conditional=config.conditional)

    latest = resume_from or run.latest_checkpoint()
    training_state = None
    if latest is not None:
        generator_state, training_state = run.load_checkpoint(latest)
        generator.load_state_dict(generator_state)
    start_step = int(training_state["step"]) if training_state else 0

    # bf16 autocast runs oneDNN's AMX/AVX-512-BF16 (or CUDA's) kernels, which want channels_last.
    bf16 = config.training_precision(device) == "bf16"
    memory_format = torch.channels_last if bf16 or on_gpu else torch.contiguous_format
    generator = prepare_model(generator.to(memory_format=memory_format))
    if discriminator is not None:
        discriminator = prepare_model(discriminator.to(memory_format=memory_format))
    trainer = GanTrainer(generator, discriminator, l1_weight=config.l1_weight,
                         learning_rate=config.resolved_learning_rate(),
                         autocast_dtype=torch.bfloat16 if bf16 else None, betas=config.betas(),
                         schedule=config.schedule(), l1_warmup_steps=config.l1_warmup_steps)
    if training_state is not None:
        trainer.load_state_dict(training_state)
        torch.set_rng_state(training_state["rng"]["torch"])
        if on_gpu and training_state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(training_state["rng"]["cuda"])

    train_set = ShardDataset.from_split(Path(config.dataset), "train", crop_size=config.crop_size, flip=True,
                                        seed=config.seed, augmentation=config.augmentation())
    batches = StepBatches(len(train_set), batch_size=config.batch_size, seed=config.seed, rank=rank,
                          world_size=world_size, start_step=start_step, stop_step=config.steps)
    loader_workers = config.loader_workers if config.loader_workers is not None else (2 if on_gpu else 0)
    loader = step_loader(train_set, batches, loader_workers=loader_workers, pin_memory=on_gpu)
    leader = None
    if rank == 0:
        leader = _Leader(config, run, trainer, start_step=start_step, steps_per_epoch=batches.steps_per_epoch,
                         nir_bits=train_set.headers[0].nir_bits, device=device, memory_format=memory_format,
                         world_size=world_size, keep=0 if report is not None else config.keep_checkpoints)

    def to_device(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(device, non_blocking=True, memory_format=memory_format)

    if progress_queue is not None:
        progress_queue.put({"kind": "worker", "rank": rank, "node_id": ray.get_runtime_context().get_node_id()})
        if leader is not None:
            progress_queue.put({"kind": "start", "step": start_step, "steps": config.steps, "world_size": world_size,
                                "time": time.time()})
    step = start_step
    for nir, rgb in loader:
        step_losses = trainer.step(to_device(nir), to_device(rgb))
        step += 1
        if on_step is not None:
            on_step(step, rank, device)
        if leader is not None:
            events, changed = leader.after_step(step, step_losses)
            if progress_queue is not None and changed:
                progress_queue.put({"kind": "step", "step": step, "losses": leader.losses, "time": time.time(),
                                    **events})
        stopping = step < config.steps and out_of_time(deadline, world_size, device)
        if stopping and leader is not None:
            leader.save_checkpoint(step, None, only_if_new=True)
            if progress_queue is not None:
                progress_queue.put({"kind": "step", "step": step, "losses": leader.losses, "time": time.time(),
                                    "checkpoint": step, "stopped": True})
        if report is not None and (stopping or checkpoint_due(config, step)):
            report(leader.report_metrics(step) if leader else {"step": step},
                   leader.run.checkpoints / step_name(step) if leader else None)
        if stopping:
            break
    if leader is not None:
        leader.close()
    train_set.close()
    return start_step, step
