// ClarityTestGain: out = in * 10^(gain_db / 20); gain_db in [-76, +24] dB,
// default 0, quantised to 0.001 dB. No smoothing, so tests can compare
// sample-exactly. pedalboard exposes the parameter as `gain_db`
// (name "Gain" + unit "dB", snake_cased).
#include "DistrhoPlugin.hpp"

#include <cmath>

START_NAMESPACE_DISTRHO

class ClarityTestGain : public Plugin
{
public:
    ClarityTestGain() : Plugin(1, 0, 0), fGainDb(0.0f), fGain(1.0f) {}

protected:
    const char* getLabel() const override { return "ClarityTestGain"; }
    const char* getDescription() const override { return "clarity-fx test plugin: static gain"; }
    const char* getMaker() const override { return "clarity-fx"; }
    const char* getLicense() const override { return "ISC"; }
    uint32_t getVersion() const override { return d_version(1, 0, 0); }
    int64_t getUniqueId() const override { return d_cconst('C', 't', 'G', 'n'); }

    void initParameter(uint32_t index, Parameter& p) override
    {
        if (index != 0) return;
        p.hints = kParameterIsAutomatable;
        p.name = "Gain";
        p.shortName = "Gain";
        p.symbol = "gain_db";
        p.unit = "dB";
        // 100 dB wide on purpose: pedalboard probes the normalised range in
        // 1000 steps and snaps values to that grid, so a width of 100 makes
        // every 0.1 dB value (e.g. -6.0) land exactly on it. With -60..+24
        // pedalboard would turn -6 into -5.988 dB.
        p.ranges.min = -76.0f;
        p.ranges.max = 24.0f;
        p.ranges.def = 0.0f;
    }

    float getParameterValue(uint32_t index) const override
    {
        return index == 0 ? fGainDb : 0.0f;
    }

    void setParameterValue(uint32_t index, float value) override
    {
        if (index != 0) return;
        // Quantise to 0.001 dB to drop float noise from the host's normalised
        // <-> plain conversion (so 0 dB is bit-exact and -6 dB is 10^(-6/20)).
        const double db = std::round(static_cast<double>(value) * 1000.0) / 1000.0;
        fGainDb = static_cast<float>(db);
        fGain = static_cast<float>(std::pow(10.0, db / 20.0));
    }

    void run(const float** inputs, float** outputs, uint32_t frames) override
    {
        const float g = fGain;
        for (uint32_t c = 0; c < 2; ++c)
        {
            const float* const in = inputs[c];
            float* const out = outputs[c];
            for (uint32_t i = 0; i < frames; ++i)
                out[i] = in[i] * g;
        }
    }

private:
    float fGainDb;
    float fGain;

    DISTRHO_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(ClarityTestGain)
};

Plugin* createPlugin() { return new ClarityTestGain(); }

END_NAMESPACE_DISTRHO
