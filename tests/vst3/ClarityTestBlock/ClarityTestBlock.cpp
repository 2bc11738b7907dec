// ClarityTestBlock: an effect whose output depends on how the host cuts the
// audio into blocks, as many real plugins' does (block-rate modulation,
// per-block analysis). For each block of `frames` samples handed to run():
//
//   g   = 0.75 + 0.25 * sin(2 pi * start / 4800)    (start: samples run since activate)
//   out = g * in + 0.5 * mean(in over this block, per channel)
//
// The gain is a block-rate LFO (10 Hz at 48 kHz): it steps once per block, at
// the block's first sample, so moving a block boundary changes the output.
// The mean makes the length and content of every block matter too: a short
// last block and one padded with silence give different samples.
// `depth` (0..1, default 1) scales both effects; at 0 the plugin is bit-exact.
#include "DistrhoPlugin.hpp"

#include <cmath>

START_NAMESPACE_DISTRHO

static const double kPeriod = 4800.0;

class ClarityTestBlock : public Plugin
{
public:
    ClarityTestBlock() : Plugin(1, 0, 0), fDepth(1.0f), fPos(0) {}

protected:
    const char* getLabel() const override { return "ClarityTestBlock"; }
    const char* getDescription() const override
    {
        return "clarity-fx test plugin: block-rate LFO gain plus the block's mean";
    }
    const char* getMaker() const override { return "clarity-fx"; }
    const char* getLicense() const override { return "ISC"; }
    uint32_t getVersion() const override { return d_version(1, 0, 0); }
    int64_t getUniqueId() const override { return d_cconst('C', 't', 'B', 'k'); }

    void initParameter(uint32_t index, Parameter& p) override
    {
        if (index != 0) return;
        p.hints = kParameterIsAutomatable;
        p.name = "Depth";
        p.shortName = "Depth";
        p.symbol = "depth";
        p.ranges.min = 0.0f;
        p.ranges.max = 1.0f;
        p.ranges.def = 1.0f;
    }

    float getParameterValue(uint32_t index) const override { return index == 0 ? fDepth : 0.0f; }

    void setParameterValue(uint32_t index, float value) override
    {
        if (index == 0) fDepth = value;
    }

    void activate() override { fPos = 0; }

    void run(const float** inputs, float** outputs, uint32_t frames) override
    {
        if (frames == 0) return;
        const double phase = 2.0 * M_PI * static_cast<double>(fPos % 4800) / kPeriod;
        const float g = static_cast<float>(1.0 - fDepth * (0.25 - 0.25 * std::sin(phase)));
        for (uint32_t c = 0; c < 2; ++c)
        {
            double sum = 0.0;
            for (uint32_t i = 0; i < frames; ++i)
                sum += inputs[c][i];
            const float offset = static_cast<float>(0.5 * fDepth * sum / frames);
            // inputs and outputs may alias: the mean is taken before any sample is written.
            for (uint32_t i = 0; i < frames; ++i)
                outputs[c][i] = g * inputs[c][i] + offset;
        }
        fPos += frames;
    }

private:
    float fDepth;
    uint64_t fPos;

    DISTRHO_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(ClarityTestBlock)
};

Plugin* createPlugin() { return new ClarityTestBlock(); }

END_NAMESPACE_DISTRHO
