"""One optimisation step of the counterfactual generator, concept classifier and critic."""

import math

from sknovel.utils.tensors import import_torch

torch = import_torch()
F = torch.nn.functional

#: Adam's β of all three networks.
BETAS = (0.5, 0.999)


def binary_cross_entropy(log_probability, log_complement, target, weight=1.0):
    """Mean BCE against (soft) targets, from log p and log(1 - p) (see DetectorScore).

    `weight` scales each image's term (a tensor, or 1).
    """
    return -(weight * (target * log_probability + (1 - target) * log_complement)).mean()


def nearest_levels(scores, lowest, n_bins):
    """Index of the nearest of the `n_bins` levels ``linspace(lowest, 1, n_bins)``, per score.

    Scores below `lowest` get level 0. A score halfway between two levels may get either.
    """
    position = (scores - lowest) / (1 - lowest) * (n_bins - 1)
    return torch.round(position).clamp(0, n_bins - 1).long()


def decay_factor(epoch, epochs):
    """Step-size factor of 1-based `epoch` of `epochs`: 1 in the first half, then linear.

    CycleGAN's schedule (Zhu et al. 2017): constant, then falling by equal steps so that the
    last epoch runs at ``1 / ceil(epochs / 2)`` of the full step size, never at zero.
    """
    decaying = epochs - epochs // 2
    return min(1.0, (epochs - epoch + 1) / decaying)


#: Share of the measured miss, as log(u(median) / u(target)), that one calibration corrects.
CALIBRATION_GAIN = 0.5
#: The lowest level's loss target stays within these factors of the target, in -log(1 - φ).
CALIBRATION_RANGE = (1 / 16, 4)
#: Most the lowest level's detector weight is raised, once its loss target is at the floor.
MAX_WEIGHT_FACTOR = 8


def _loss_units(score):
    """u = -log(1 - φ): a protocol detector's loss in units of its scale (see DetectorScore)."""
    return -math.log1p(-min(score, 1 - 1e-7))


def next_correction(correction, median_score, target):
    """The calibration's correction after an epoch whose counterfactuals' median is given.

    The correction c grows by ``CALIBRATION_GAIN * log(u(median) / u(target))`` (it grows when
    the counterfactuals land above the target) and stays in ``[-log(CALIBRATION_RANGE[1]),
    log(1 / CALIBRATION_RANGE[0]) + log(MAX_WEIGHT_FACTOR)]``. A target of 0 is not calibrated.
    """
    if target <= 0:
        return correction
    low, high = CALIBRATION_RANGE
    u_target = _loss_units(target)
    u_median = max(_loss_units(median_score), u_target * low)
    moved = correction + CALIBRATION_GAIN * math.log(u_median / u_target)
    return min(max(moved, -math.log(high)), -math.log(low) + math.log(MAX_WEIGHT_FACTOR))


def lowest_level_loss(correction, target):
    """The score the detector term asks of the lowest level, and that term's weight factor.

    The loss target's u is ``u(target) * exp(-c)``, within ``CALIBRATION_RANGE`` of u(target)
    and below 0.9 times the threshold's u; the part of c beyond the loss target's floor
    raises the weight instead, up to ``MAX_WEIGHT_FACTOR``.
    """
    low, high = CALIBRATION_RANGE
    shift = min(max(correction, -math.log(high)), -math.log(low))
    u_loss = min(_loss_units(target) * math.exp(-shift), 0.9 * math.log(2))
    weight = math.exp(max(0.0, correction + math.log(low)))
    return float(-math.expm1(-u_loss)), weight


class TrainingStep:
    """Run one step of the losses of :class:`~sknovel.explain.CounterfactualExplainer`.

    Parameters
    ----------
    explainer : CounterfactualExplainer
        Holds the parameters and the networks ``generator_``, ``concept_classifier_`` and
        ``discriminator_`` (None without the adversarial term).
    score : DetectorScore
        The frozen detector, φ.
    device : torch.device
    """

    def __init__(self, explainer, score, device):
        self.explainer = explainer
        self.score = score
        self.generator = explainer.generator_.train()
        self.classifier = explainer.concept_classifier_.train()
        self.discriminator = explainer.discriminator_
        self.cooperative = [*self.generator.parameters(), *self.classifier.parameters()]
        rate = explainer.learning_rate
        self.optimizer = torch.optim.Adam(self.cooperative, lr=rate, betas=BETAS)
        self.terms = ("detector", "reconstruction", "cycle", "proximity", "concept")
        if self.discriminator is not None:
            self.discriminator.train()
            self.critic_optimizer = torch.optim.Adam(
                self.discriminator.parameters(), lr=rate, betas=BETAS
            )
            self.terms += ("adversarial", "discriminator")
        self.bin_values = torch.as_tensor(explainer.bin_values_, dtype=torch.float32, device=device)
        self.lowest = float(explainer.bin_values_[0])
        # What the detector term asks of each level, and how much; calibration may move the
        # lowest off bin_values_[0], which stays the level the generator is conditioned on.
        self.loss_values = self.bin_values.clone()
        self.loss_weights = torch.ones_like(self.bin_values)

    def set_lowest_level_loss(self, score, weight):
        """Make the detector term train the lowest level towards `score`, `weight` times."""
        self.loss_values[0] = score
        self.loss_weights[0] = weight

    def scale_learning_rate(self, factor):
        """Set every optimiser's step size to ``factor`` times ``learning_rate``."""
        optimizers = [self.optimizer]
        if self.discriminator is not None:
            optimizers.append(self.critic_optimizer)
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                group["lr"] = self.explainer.learning_rate * factor

    def __call__(self, x, source, concepts, targets):
        """One step on images `x` with detector scores `source`, drawn concepts and levels.

        Returns
        -------
        losses : dict of str to float
            ``total`` (the weighted generator loss) and each unweighted term.
        """
        e = self.explainer
        n_bins, n_concepts = e.n_bins, e.n_concepts
        source_bins = nearest_levels(source, self.lowest, n_bins)
        target_conditions = concepts * n_bins + targets
        source_conditions = concepts * n_bins + source_bins
        # G(x, α, k) and G(x, φ(x), k) in one pass, so that batch norm sees both.
        fake, reconstruction = self.generator(
            torch.cat([x, x]), torch.cat([target_conditions, source_conditions])
        ).chunk(2)
        cycle = self.generator(fake, source_conditions)
        log_scores, log_complements = self.score.log_probabilities(torch.cat([fake, cycle]))
        (log_fake, log_cycle), (log_not_fake, log_not_cycle) = (
            log_scores.chunk(2),
            log_complements.chunk(2),
        )
        terms = {
            "detector": binary_cross_entropy(
                log_fake, log_not_fake, self.loss_values[targets], self.loss_weights[targets]
            )
            + binary_cross_entropy(log_cycle, log_not_cycle, source),
            "reconstruction": (reconstruction - x).abs().mean(),
            "cycle": (cycle - x).abs().mean(),
            "proximity": (fake - x).abs().mean(),
            "concept": self._concept_loss(
                x, fake, cycle, reconstruction, concepts, targets, source_bins, n_concepts
            ),
        }
        total = (
            e.lambda_detector * terms["detector"]
            + e.lambda_reconstruction * (terms["reconstruction"] + terms["cycle"])
            + e.lambda_concept * terms["concept"]
            + e.lambda_proximity * terms["proximity"]
        )
        if self.discriminator is not None:
            terms["adversarial"] = -self.discriminator(fake, targets).mean()
            total = total + e.lambda_adversarial * terms["adversarial"]
        self.optimizer.zero_grad(set_to_none=True)
        # Only G and R learn here: no gradient reaches the detector or the critic.
        total.backward(inputs=self.cooperative)
        self.optimizer.step()
        if self.discriminator is not None:
            terms["discriminator"] = self._critic_step(x, source_bins, fake.detach(), targets)
        losses = {name: float(value.detach()) for name, value in terms.items()}
        losses["total"] = float(total.detach())
        return losses

    def _concept_loss(self, x, fake, cycle, reconstruction, concepts, targets, source_bins, k):
        """DISSECT's R loss: which concept changed the first image of a pair into the second."""
        changed = F.one_hot(concepts, k).float() * (targets != source_bins).float()[:, None]
        unchanged = torch.zeros_like(changed)
        logits = self.classifier(
            torch.cat([x, fake, x, x]), torch.cat([fake, cycle, cycle, reconstruction])
        )
        labels = torch.cat([changed, changed, unchanged, unchanged])
        return F.binary_cross_entropy_with_logits(logits, labels)

    def _critic_step(self, x, source_bins, fake, targets):
        """Hinge loss of D: real images at their level against counterfactuals at theirs."""
        loss = (
            F.relu(1 - self.discriminator(x, source_bins)).mean()
            + F.relu(1 + self.discriminator(fake, targets)).mean()
        )
        self.critic_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.critic_optimizer.step()
        return loss

    def finish(self):
        """Drop the gradients and put the networks in eval mode."""
        self.optimizer.zero_grad(set_to_none=True)
        for module in (self.generator, self.classifier, self.discriminator):
            if module is not None:
                module.zero_grad(set_to_none=True)
                module.eval()
