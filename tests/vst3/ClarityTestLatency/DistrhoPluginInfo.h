// ClarityTestLatency: 64-sample delay that reports its latency to the host.
#ifndef DISTRHO_PLUGIN_INFO_H_INCLUDED
#define DISTRHO_PLUGIN_INFO_H_INCLUDED

#define DISTRHO_PLUGIN_BRAND   "clarity-fx"
#define DISTRHO_PLUGIN_NAME    "ClarityTestLatency"
#define DISTRHO_PLUGIN_URI     "urn:clarity-fx:tests:ClarityTestLatency"

#define DISTRHO_PLUGIN_NUM_INPUTS   2
#define DISTRHO_PLUGIN_NUM_OUTPUTS  2
#define DISTRHO_PLUGIN_HAS_UI       0
#define DISTRHO_PLUGIN_IS_RT_SAFE   1
#define DISTRHO_PLUGIN_WANT_LATENCY 1
#define DISTRHO_PLUGIN_VST3_CATEGORIES "Fx|Delay"

#endif
