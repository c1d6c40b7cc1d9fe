"""Build minifast from settings.ini (nbdev 2 layout)."""
from configparser import ConfigParser
import setuptools, shlex

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

expected = ('version description keywords author author_email license status min_python '
            'audience language lib_name user git_url doc_host doc_baseurl').split()
missing = [o for o in expected if o not in cfg]
if missing: raise KeyError(f'settings.ini is missing: {missing}')

# SPDX license expressions (setuptools deprecates license classifiers)
licenses = {'apache2': 'Apache-2.0'}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable',
            '6 - Mature', '7 - Inactive']
# the Python versions CI runs on and those down to min_python that the code is written for (no newer ones claimed)
py_versions = '3.9 3.10 3.11'.split()

lic = licenses[cfg['license'].lower()]
min_python = cfg['min_python']
requirements = shlex.split(cfg.get('requirements', ''))
text_requirements = shlex.split(cfg.get('text_requirements', ''))
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))
console_scripts = cfg.get('console_scripts', '').split('\n')
console_scripts = [o.strip() for o in console_scripts if o.strip()]

setuptools.setup(
    name=cfg['lib_name'],
    license=lic,
    # settings.ini's `status` is the number at the start of the classifier (4: Beta)
    classifiers=['Development Status :: ' + next(s for s in statuses if s.startswith(cfg['status'] + ' ')),
                 'Topic :: Scientific/Engineering :: Artificial Intelligence',
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'Natural Language :: ' + cfg['language'].title()] +
                ['Programming Language :: Python :: ' + o
                 for o in py_versions[py_versions.index(min_python):]],
    url=cfg['git_url'],
    project_urls={'Documentation': cfg['doc_host'] + cfg['doc_baseurl'], 'Source': cfg['git_url'],
                  'Issues': cfg['git_url'] + '/issues'},
    license_files=['LICENSE'],
    packages=setuptools.find_packages(include=['minifast', 'minifast.*']),
    include_package_data=True,
    install_requires=requirements,
    extras_require={'text': text_requirements,
                    'dev': dev_requirements + text_requirements},
    python_requires='>=' + min_python,
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={'console_scripts': console_scripts,
                  'nbdev': [f'{cfg.get("lib_path")}={cfg.get("lib_path")}._modidx:d']},
    version=cfg['version'],
    description=cfg['description'],
    keywords=cfg['keywords'],
    author=cfg['author'],
    author_email=cfg['author_email'],
)
