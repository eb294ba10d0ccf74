"""The emulated operator network behind ``lwm2m network``: SIMs and the HSS, NB-IoT modems
driven by AT commands (TS 27.007), radio behaviour (RRC, PSM, eDRX, rate control, MT
buffering) and the SCEF's T8 APIs (TS 29.122). Sans-I/O cores; :mod:`.service` is the asyncio
adapter."""

from lwm2m.network.at import AtInterpreter
from lwm2m.network.core import MtOutcome, Network, NoFreeSimError
from lwm2m.network.scef import Scef
from lwm2m.network.sims import Hss, Sim, SimError, generate_sims, load_sims
from lwm2m.network.timers import GrantPolicy
from lwm2m.network.ue import NetworkConfig, RateControl

__all__ = [
    "AtInterpreter",
    "GrantPolicy",
    "Hss",
    "MtOutcome",
    "Network",
    "NetworkConfig",
    "NoFreeSimError",
    "RateControl",
    "Scef",
    "Sim",
    "SimError",
    "generate_sims",
    "load_sims",
]
