"""The typed cost report: what one inference of a network makes the hardware do (docs/ARCHITECTURE.md, "Hardware").

Terms (counted per inference, averaged over the counted samples):

* **synaptic event** -- one spike through one non-zero synapse (a SynOp);
* **neuron update** -- one evaluation of one neuron's state in one time step; it is **active** if the
  neuron received input or changed state in that step, **inactive** otherwise (the two kinds Davies et
  al., IEEE Micro 38(1), 2018, Table 2 charge separately);
* **MAC** -- one multiply-accumulate of the dense ANN twin (every input, every weight).

One :class:`CostReport` is produced for each kind of network -- TTFS (:func:`tnas_plugin.hardware.count_ttfs`),
rate/LIF (:func:`tnas_plugin.hardware.count_stepped`) and ANN (:meth:`CostReport.ann_twin`) -- and
:func:`tnas_plugin.hardware.estimate_energy` reads only this report.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

#: The kinds of network a report describes.
NETWORKS = ("ttfs", "lif", "ann")


@dataclass(frozen=True)
class LayerCost:
    """Operations of one weighted layer (its synapses and the neurons they feed), per inference."""

    name: str  #: e.g. ``"0:conv"`` (index in the network's layer list and kind)
    kind: str  #: ``conv``, ``linear`` or ``readout``
    neurons: int  #: neurons the layer's synapses feed (output elements per sample)
    synaptic_events: float  #: spikes through non-zero synapses into this layer
    spikes_in: float  #: spikes arriving at the layer's synapses
    spikes_out: float | None  #: spikes the layer's neurons emit (``None`` for a non-spiking readout or an ANN)
    updates_active: float  #: active neuron updates over the inference
    updates_inactive: float  #: inactive neuron updates over the inference
    macs: int  #: multiply-accumulates of the dense ANN layer with these weights and shapes

    @property
    def spikes_per_neuron(self) -> float | None:
        return None if self.spikes_out is None else self.spikes_out / self.neurons

    def to_dict(self) -> dict:
        return {**asdict(self), "spikes_per_neuron": self.spikes_per_neuron}


@dataclass(frozen=True)
class CostReport:
    """Per-layer operations of one network on real inputs, and their totals (per inference).

    ``time_steps`` is the number of time steps one inference runs (``None`` for an ANN, which has
    none); every neuron is updated once per step, so ``updates_active + updates_inactive =
    neurons x time_steps`` in each layer.
    """

    network: str  #: one of :data:`NETWORKS`
    layers: tuple[LayerCost, ...]
    time_steps: int | None
    samples: int  #: inputs the averages are taken over

    def __post_init__(self):
        if self.network not in NETWORKS:
            raise ValueError(f"network must be one of {NETWORKS}, got {self.network!r}")
        if not self.layers:
            raise ValueError("a cost report needs at least one layer")

    def _sum(self, name: str) -> float:
        return sum(getattr(layer, name) for layer in self.layers)

    @property
    def synaptic_events(self) -> float:
        return self._sum("synaptic_events")

    @property
    def updates_active(self) -> float:
        return self._sum("updates_active")

    @property
    def updates_inactive(self) -> float:
        return self._sum("updates_inactive")

    @property
    def neuron_updates(self) -> float:
        return self.updates_active + self.updates_inactive

    @property
    def neurons(self) -> int:
        return self._sum("neurons")

    @property
    def macs(self) -> int:
        return self._sum("macs")

    @property
    def spikes(self) -> float:
        """Spikes of all spiking (hidden) neurons."""
        return sum(layer.spikes_out for layer in self.layers if layer.spikes_out is not None)

    @property
    def hidden_neurons(self) -> int:
        return sum(layer.neurons for layer in self.layers if layer.spikes_out is not None)

    @property
    def spikes_per_neuron(self) -> float:
        """Hidden spikes per hidden neuron (0 without hidden neurons)."""
        return self.spikes / self.hidden_neurons if self.hidden_neurons else 0.0

    def ann_twin(self) -> "CostReport":
        """The dense ANN with the same layers: MACs only, no spikes, no time steps, one evaluation per neuron."""
        layers = tuple(replace(layer, synaptic_events=0.0, spikes_in=0.0, spikes_out=None,
                               updates_active=float(layer.neurons), updates_inactive=0.0) for layer in self.layers)
        return CostReport("ann", layers, None, self.samples)

    def totals(self) -> dict:
        """Plain-Python totals (for JSON, CSV and trial metrics)."""
        return {"network": self.network, "synaptic_events": self.synaptic_events, "updates_active": self.updates_active,
                "updates_inactive": self.updates_inactive, "neuron_updates": self.neuron_updates, "neurons": self.neurons,
                "spikes": self.spikes, "spikes_per_neuron": self.spikes_per_neuron, "macs": self.macs,
                "time_steps": self.time_steps, "samples": self.samples}

    def rows(self) -> list[dict]:
        """One plain dict per layer (:meth:`LayerCost.to_dict`)."""
        return [layer.to_dict() for layer in self.layers]
